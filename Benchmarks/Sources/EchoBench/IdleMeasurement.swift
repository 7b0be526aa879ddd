/// Memory per idle connection, one run.
struct IdleMeasurement: Codable, Sendable {
  var variant: Variant
  var round: Int
  var connections: Int
  /// Emporium: the zstd window log both sides used (nil: the library's default, 17), and the
  /// echo calls each connection made before idling (nil in older files: none).
  var zstdWindowLog: Int?
  var callsPerConnection: Int?
  /// Growth of the server's VmRSS, per connection.
  var serverKiBPerConnection: Double
  var clientKiBPerConnection: Double
  /// Growth of live heap bytes (the allocation counter's exact count), per connection.
  var serverHeapKiBPerConnection: Double?
  var clientHeapKiBPerConnection: Double?
}
