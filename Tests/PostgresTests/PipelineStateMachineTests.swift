import Testing

@testable import Postgres

@Suite("PipelineStateMachine")
struct PipelineStateMachineTests {
  let select = StatementKey(sql: "SELECT $1", types: [20])
  let other = StatementKey(sql: "SELECT $1", types: [25])

  @Test("the first use prepares, later uses execute the cached statement")
  func cachesStatements() {
    var machine = PipelineStateMachine()
    #expect(
      machine.plan(1, statements: [self.select], resultIndex: 0)
        == [.prepare(name: "s1", statement: 0), .executePrepared(name: "s1", statement: 0), .sync])
    #expect(machine.plan(2, statements: [self.select], resultIndex: 0) == [.executePrepared(name: "s1", statement: 0), .sync])
    // Same SQL, other parameter types: another statement.
    #expect(machine.plan(3, statements: [self.other], resultIndex: 0).first == .prepare(name: "s2", statement: 0))
    #expect(machine.inFlightCount == 3)
    #expect(machine.head == 1)
  }

  @Test("results complete requests in order, keeping the asked-for statement's result")
  func completesInOrder() {
    var machine = PipelineStateMachine()
    _ = machine.plan(1, statements: [self.select], resultIndex: 0)
    _ = machine.plan(2, statements: [StatementKey(sql: "BEGIN", types: []), self.select], resultIndex: 1)
    #expect(machine.receive(.success) == .none)  // prepare s1
    #expect(machine.receive(.end) == .none)
    #expect(machine.receive(.success) == .keepResult)  // execute
    #expect(machine.receive(.end) == .none)
    #expect(machine.receive(.sync) == .complete(1, error: nil, enterPipelineMode: false))
    #expect(machine.head == 2)
    #expect(machine.receive(.success) == .none)  // prepare BEGIN
    #expect(machine.receive(.end) == .none)
    #expect(machine.receive(.success) == .none)  // BEGIN: not the result asked for
    #expect(machine.receive(.end) == .none)
    #expect(machine.receive(.success) == .keepResult)
    #expect(machine.receive(.end) == .none)
    #expect(machine.receive(.sync) == .complete(2, error: nil, enterPipelineMode: false))
    #expect(machine.inFlightCount == 0)
  }

  @Test("a failed prepare is reported to the request that prepared it and to those that relied on it")
  func failedPrepare() {
    var machine = PipelineStateMachine()
    let broken = StatementKey(sql: "SELEC 1", types: [])
    _ = machine.plan(1, statements: [broken], resultIndex: 0)
    // Pipelined before the failure was known: uses s1 without preparing.
    #expect(machine.plan(2, statements: [broken], resultIndex: 0) == [.executePrepared(name: "s1", statement: 0), .sync])
    let syntax = PostgresError(code: .server, sqlState: "42601", message: "syntax error")
    #expect(machine.receive(.failure(syntax)) == .none)
    #expect(machine.receive(.end) == .none)
    #expect(machine.receive(.aborted) == .none)
    #expect(machine.receive(.end) == .none)
    #expect(machine.receive(.sync) == .complete(1, error: syntax, enterPipelineMode: false))
    let missing = PostgresError(code: .server, sqlState: "26000", message: "prepared statement \"s1\" does not exist")
    #expect(machine.receive(.failure(missing)) == .none)
    #expect(machine.receive(.end) == .none)
    #expect(machine.receive(.sync) == .complete(2, error: syntax, enterPipelineMode: false))
    // The next use prepares again, under a new name.
    #expect(machine.plan(3, statements: [broken], resultIndex: 0).first == .prepare(name: "s2", statement: 0))
  }

  @Test("a full cache runs new SQL unnamed")
  func fullCache() {
    var machine = PipelineStateMachine(statementCacheCapacity: 1)
    _ = machine.plan(1, statements: [self.select], resultIndex: 0)
    #expect(machine.plan(2, statements: [self.other], resultIndex: 0) == [.executeUnnamed(statement: 0), .sync])
  }

  @Test("a statement planned per call is never prepared, even with room in the cache")
  func perCallStatements() {
    var machine = PipelineStateMachine()
    var search = self.select
    search.cacheable = false
    #expect(machine.plan(1, statements: [search], resultIndex: 0) == [.executeUnnamed(statement: 0), .sync])
    #expect(machine.plan(2, statements: [search], resultIndex: 0) == [.executeUnnamed(statement: 0), .sync])
    #expect(machine.preparedStatementCount == 0)
  }

  @Test("a simple query needs an idle pipeline and asks to re-enter pipeline mode after")
  func simpleQuery() {
    var machine = PipelineStateMachine()
    _ = machine.plan(1, statements: [self.select], resultIndex: 0)
    #expect(!machine.canSendSimple)
    for event in [PipelineStateMachine.Event.success, .end, .success, .end] {
      _ = machine.receive(event)
    }
    #expect(machine.receive(.sync) == .complete(1, error: nil, enterPipelineMode: false))
    #expect(machine.canSendSimple)
    #expect(machine.planSimple(2) == [.simpleQuery])
    #expect(!machine.canSendExtended)
    #expect(machine.receive(.success) == .keepResult)
    #expect(machine.receive(.success) == .keepResult)
    #expect(machine.receive(.end) == .complete(2, error: nil, enterPipelineMode: true))
    #expect(machine.canSendExtended)
  }

  @Test("a COPY asks for its data once, then completes like a simple query")
  func copy() {
    var machine = PipelineStateMachine()
    #expect(machine.planCopy(3) == [.simpleQuery])
    #expect(!machine.canSendExtended && !machine.canSendSimple)
    #expect(machine.receive(.success) == .keepResult)  // a transaction's BEGIN, sent with it
    #expect(machine.receive(.copyIn) == .startCopy(3))
    #expect(machine.receive(.success) == .keepResult)  // COPY n, once the data has ended
    #expect(machine.receive(.end) == .complete(3, error: nil, enterPipelineMode: true))
    #expect(machine.canSendExtended)

    // A failed COPY reports the failure; a second request for data is out of step.
    let failure = PostgresError(code: .server, sqlState: "23514", message: "check")
    _ = machine.planCopy(4)
    #expect(machine.receive(.copyIn) == .startCopy(4))
    #expect(machine.receive(.failure(failure)) == .none)
    #expect(machine.receive(.end) == .complete(4, error: failure, enterPipelineMode: true))
    _ = machine.planCopy(5)
    #expect(machine.receive(.copyIn) == .startCopy(5))
    if case .protocolViolation = machine.receive(.copyIn) {} else { Issue.record("expected a violation") }
    _ = machine.failAll()
    _ = machine.planSimple(6)
    if case .protocolViolation = machine.receive(.copyIn) {} else { Issue.record("a script cannot start a COPY") }
  }

  @Test("events that do not fit are protocol violations")
  func violations() {
    var machine = PipelineStateMachine()
    #expect(machine.receive(.success) == .protocolViolation("a result arrived with no request in flight"))
    _ = machine.plan(1, statements: [self.select], resultIndex: 0)
    if case .protocolViolation = machine.receive(.sync) {} else { Issue.record("expected a violation") }
    #expect(machine.failAll() == [1])
    #expect(machine.preparedStatementCount == 0)
  }
}
