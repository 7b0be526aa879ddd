import ArgumentParser
import RPC

/// Options of commands that make calls: metadata and the deadline.
struct CallSettings: ParsableArguments {
  @Option(
    name: [.customShort("H"), .customLong("header")],
    help: ArgumentHelp(
      "Request metadata, key:value (repeatable). Keys ending in -bin take base64 values.", valueName: "key:value"))
  var headers: [MetadataEntry] = []

  @Option(help: ArgumentHelp("How long the call may take (5s, 250ms, 1m...).", valueName: "duration"))
  var deadline: TimeSpan?

  /// The options for one call.
  var callOptions: CallOptions {
    var metadata = Metadata()
    for header in headers {
      switch header.value {
      case .text(let text): metadata.add(header.key, text)
      case .binary(let bytes): metadata.add(header.key, binary: bytes)
      }
    }
    return CallOptions(timeout: deadline?.duration, metadata: metadata)
  }
}
