import NIOCore
import ProtoJSON
import RPC

/// Converts one method's requests from JSON to wire bytes and its responses back, with the
/// schemas reflection gave (through ProtoJSON's ``JSONMessageCodec``), and turns conversion
/// errors into the command's failures.
struct MessageConverter: Sendable {
  let codec: JSONMessageCodec
  let inputType: String
  let outputType: String
  var layout: JSONLayout

  init(catalog: SchemaCatalog, inputType: String, outputType: String, emitDefaults: Bool = false, pretty: Bool = false) {
    self.codec = JSONMessageCodec(schema: catalog, emitDefaultValues: emitDefaults)
    self.inputType = inputType
    self.outputType = outputType
    self.layout = pretty ? .indented : .compact
  }

  /// Request number `index` (1-based; 0 when the call takes one request) as wire bytes.
  ///
  /// - Throws: ``CommandFailure`` INVALID_ARGUMENT naming the request, the field and the
  ///   valid choices.
  func encodeRequest(_ json: JSONValue, index: Int) throws(CommandFailure) -> ByteBuffer {
    do {
      return try codec.encode(json, messageType: inputType)
    } catch {
      let which = index == 0 ? "request" : "request \(index)"
      throw CommandFailure.invalidInput("\(which) (\(inputType)): \(error)")
    }
  }

  /// A response as one JSON text (one line unless `pretty`).
  ///
  /// - Throws: ``CommandFailure`` INTERNAL when the bytes do not decode as the output type.
  func decodeResponse(_ buffer: ByteBuffer, index: Int) throws(CommandFailure) -> String {
    do {
      return try codec.json(from: buffer, messageType: outputType, layout: layout)
    } catch {
      throw CommandFailure(.internal, "response \(index) does not decode as \(outputType): \(error)")
    }
  }
}
