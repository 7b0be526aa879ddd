extension Duration {
  /// The duration in whole microseconds (truncated), as the benchmarks' histograms record it.
  public var wholeMicroseconds: Int64 {
    components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000
  }
}
