import NIOCore
import RPC

/// Converts one method's requests from JSON to wire bytes and its responses back, with the
/// schemas reflection gave.
struct MessageConverter: Sendable {
  let catalog: SchemaCatalog
  let inputType: String
  let outputType: String
  var emitDefaults = false
  var pretty = false

  /// Request number `index` (1-based; 0 when the call takes one request) as wire bytes.
  ///
  /// - Throws: ``CommandFailure`` INVALID_ARGUMENT naming the request, the field and the
  ///   valid choices.
  func encodeRequest(_ json: JSONValue, index: Int) throws(CommandFailure) -> ByteBuffer {
    do {
      let message = try ProtoJSONDecoder(catalog: catalog).decode(json, as: inputType)
      return ByteBuffer(bytes: try WireEncoder(catalog: catalog).encode(message))
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
      let bytes = Array(buffer.readableBytesView)
      let message = try WireDecoder(catalog: catalog).decode(bytes, as: outputType)
      let json = try ProtoJSONEncoder(catalog: catalog, emitDefaults: emitDefaults).encode(message)
      return JSONWriter.write(json, pretty: pretty)
    } catch {
      throw CommandFailure(.internal, "response \(index) does not decode as \(outputType): \(error)")
    }
  }
}
