import CortexCore

/// Whether a layer may run its fused inference kernel instead of its composite form on these
/// tensors: no gradient is wanted (gradients off, or none of them requires one) and all are
/// float32 on the CPU. RMSNorm, LayerNorm, the rotary embedding and Llama's SwiGLU ask this.
public func fusedInferenceApplies(to tensors: [Tensor]) -> Bool {
    !(GradMode.isEnabled && tensors.contains(where: \.requiresGrad)) && tensors.allSatisfy { $0.dtype == .float32 && $0.device == .cpu }
}
