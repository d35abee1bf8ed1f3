import Foundation

/// One thread that runs submitted closures in order: all of a process's MPI calls.
final class CommunicationThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "cortex-communication"
        thread.start()
    }

    func submit(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func runAndWait<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = ValueBox<Result<T, any Error>?>(nil)
        let work = CommunicationWork()
        submit {
            box.values = Result { try body() }
            work.complete(nil)
        }
        try work.wait()
        return try box.values!.get()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}

/// A mutable value handed to the communication thread and read back after `wait()`.
final class ValueBox<Value>: @unchecked Sendable {
    var values: Value
    init(_ values: Value) { self.values = values }
}
