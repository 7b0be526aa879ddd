/// Memory per idle connection, one run.
struct IdleMeasurement: Codable, Sendable {
  var variant: Variant
  var round: Int
  var connections: Int
  /// Growth of the server's VmRSS, per connection.
  var serverKiBPerConnection: Double
  var clientKiBPerConnection: Double
  /// Growth of live heap bytes (the allocation counter's exact count), per connection.
  var serverHeapKiBPerConnection: Double?
  var clientHeapKiBPerConnection: Double?
}
