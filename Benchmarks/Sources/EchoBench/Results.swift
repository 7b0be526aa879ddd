/// Everything one `run` measured (the JSON file) and the context the tables need.
struct Results: Codable {
  var date: String
  var machine: Machine
  var seconds: Double
  var warmUp: Double
  var rounds: Int
  var elapsedSeconds: Double
  var measurements: [Measurement]
  var idle: [IdleMeasurement]
  var zstd: [ZstdStreamingComparison.Row]
}
