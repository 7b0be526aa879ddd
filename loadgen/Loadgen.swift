import ArgumentParser

/// `loadgen`: the capacity-planning load generator. See docs/LOADGEN.md.
@main
struct Loadgen: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "loadgen",
    abstract: "Offers load to an Emporium deployment and reports honest latency (docs/LOADGEN.md).",
    subcommands: [RunCommand.self, CapacityCommand.self, SweepCommand.self, MergeCommand.self, ReportCommand.self])
}
