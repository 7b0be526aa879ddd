/// One client run and the server's share of its window.
struct Measurement: Codable, Sendable {
  var scenario: Scenario
  var variant: Variant
  var round: Int
  var client: ClientReport
  /// Server CPU (user + system) between the client's WINDOW_START and WINDOW_END.
  var serverCPUSeconds: Double
  /// Server allocations over the same window (nil without the counter).
  var serverMallocs: UInt64?
  /// Auth variants: the server's token cache counts at the end of the window (whole run).
  var serverAuthCache: AuthCacheCounts? = nil

  var cpuMicrosPerCall: Double { (client.cpuSeconds + serverCPUSeconds) / Double(max(client.calls, 1)) * 1e6 }
  var clientCPUMicrosPerCall: Double { client.cpuSeconds / Double(max(client.calls, 1)) * 1e6 }
  var serverCPUMicrosPerCall: Double { serverCPUSeconds / Double(max(client.calls, 1)) * 1e6 }
  var clientMallocsPerCall: Double? { client.mallocs.map { Double($0.allocations) / Double(max(client.calls, 1)) } }
  var serverMallocsPerCall: Double? { serverMallocs.map { Double($0) / Double(max(client.calls, 1)) } }
}

/// An auth server's `AccessTokens` cache counts (``AccessTokens/cacheStatistics``).
struct AuthCacheCounts: Codable, Sendable {
  var hits: Int
  var misses: Int
  var entries: Int
}
