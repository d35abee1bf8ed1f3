import CortexCore
import Foundation

/// Finds the process group a program was started in.
public enum ProcessGroups {
    /// The launcher's view of this process: rank, size and ranks on this machine, read from
    /// Open MPI's environment (`OMPI_COMM_WORLD_*`), or one process when there is none.
    public struct Launch: Sendable, Equatable {
        public var rank: Int
        public var size: Int
        public var localSize: Int

        public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Launch {
            func value(_ name: String) -> Int? { environment[name].flatMap { Int($0) } }
            let size = value("OMPI_COMM_WORLD_SIZE") ?? value("PMI_SIZE") ?? 1
            return Launch(rank: value("OMPI_COMM_WORLD_RANK") ?? value("PMI_RANK") ?? 0, size: max(size, 1),
                          localSize: max(value("OMPI_COMM_WORLD_LOCAL_SIZE") ?? 1, 1))
        }

        public var isDistributed: Bool { size > 1 }
    }

    /// An ``MPIProcessGroup`` when started by mpirun with more than one rank, otherwise a
    /// ``SingleProcessGroup``: the same program runs both ways with no flag.
    public static func fromEnvironment() throws -> any ProcessGroup {
        let launch = Launch.fromEnvironment()
        guard launch.isDistributed else { return SingleProcessGroup() }
        let group = try MPIProcessGroup.world()
        guard group.size == launch.size, group.rank == launch.rank else {
            throw CortexError.communication(call: "MPI_Comm_size", reason: "MPI reports rank \(group.rank) of \(group.size), the launcher's environment rank \(launch.rank) of \(launch.size)")
        }
        return group
    }
}
