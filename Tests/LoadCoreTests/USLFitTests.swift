import Testing

@testable import LoadCore

/// The trust check: the fit recovers known σ and κ from synthetic measurements.
@Suite struct USLFitTests {
  static let concurrencies: [Double] = [1, 2, 4, 8, 16, 32, 64]

  func measurements(lambda: Double, sigma: Double, kappa: Double, noise: [Double] = []) -> [USLFit.Point] {
    Self.concurrencies.enumerated().map { index, n in
      let exact = USLFit.model(lambda: lambda, sigma: sigma, kappa: kappa, n: n)
      return USLFit.Point(concurrency: n, throughput: exact * (1 + (noise.isEmpty ? 0 : noise[index % noise.count])))
    }
  }

  @Test func recoversKnownParametersFromExactMeasurements() throws {
    let fit = try USLFit.fit(measurements(lambda: 1_000, sigma: 0.05, kappa: 0.001))
    #expect(abs(fit.lambda - 1_000) < 1e-3)
    #expect(abs(fit.sigma - 0.05) < 1e-6)
    #expect(abs(fit.kappa - 0.001) < 1e-8)
    #expect(fit.rSquared > 0.999_999)
    #expect(fit.rmse < 1e-3)
    // N* = √((1 − σ)/κ) = √950 ≈ 30.8; X(N*) ≈ 1000·30.8 / (1 + 0.05·29.8 + 0.001·30.8·29.8) ≈ 7,900.
    let peak = try #require(fit.peakConcurrency)
    #expect(abs(peak - (0.95 / 0.001).squareRoot()) < 1e-3)
    let top = try #require(fit.maxThroughput)
    #expect(abs(top - USLFit.model(lambda: 1_000, sigma: 0.05, kappa: 0.001, n: (950.0).squareRoot())) < 0.01)
    #expect(fit.note.contains("retrograde region"))
    #expect(fit.points == 7)
  }

  @Test func recoversKnownParametersThroughSmallNoise() throws {
    // ±2% deterministic noise on each throughput.
    let noise = [0.02, -0.015, 0.01, -0.02, 0.015, -0.01, 0.005]
    let fit = try USLFit.fit(measurements(lambda: 2_000, sigma: 0.08, kappa: 0.0005, noise: noise))
    #expect(abs(fit.lambda - 2_000) / 2_000 < 0.05)
    #expect(abs(fit.sigma - 0.08) < 0.02)
    #expect(abs(fit.kappa - 0.0005) < 0.0002)
    #expect(fit.rSquared > 0.99)
    // The true values lie within three standard errors of the estimates.
    let sigmaError = try #require(fit.sigmaError)
    let kappaError = try #require(fit.kappaError)
    #expect(sigmaError > 0 && kappaError > 0)
    #expect(abs(fit.sigma - 0.08) < 3 * sigmaError)
    #expect(abs(fit.kappa - 0.0005) < 3 * kappaError)
    let peak = try #require(fit.peakConcurrency)
    #expect(abs(peak - (0.92 / 0.0005).squareRoot()) / (0.92 / 0.0005).squareRoot() < 0.25)
  }

  @Test func recoversAStrongRetrogradeRegionFromAFarStart() throws {
    // Throughput peaks near N* = √(0.7/0.02) ≈ 5.9 and collapses beyond: a start far from the
    // answer (Gunther's linearisation) must still converge.
    let fit = try USLFit.fit(measurements(lambda: 50, sigma: 0.3, kappa: 0.02))
    #expect(abs(fit.sigma - 0.3) < 1e-5)
    #expect(abs(fit.kappa - 0.02) < 1e-6)
    #expect(abs(try #require(fit.peakConcurrency) - (0.7 / 0.02).squareRoot()) < 1e-3)
  }

  @Test func withoutCoherencyCostThereIsNoRetrogradeRegion() throws {
    let fit = try USLFit.fit(measurements(lambda: 500, sigma: 0.1, kappa: 0))
    #expect(fit.kappa == 0)
    #expect(fit.kappaError == nil)  // held at 0: the data need no κ
    #expect(abs(fit.sigma - 0.1) < 1e-6)
    #expect(fit.peakConcurrency == nil)
    #expect(abs(try #require(fit.maxThroughput) - 5_000) < 0.1)  // the limit λ/σ
    #expect(fit.note.hasPrefix("no retrograde region"))
  }

  @Test func linearScalingHasNeitherPeakNorLimit() throws {
    let fit = try USLFit.fit(measurements(lambda: 100, sigma: 0, kappa: 0))
    #expect(fit.sigma == 0 && fit.kappa == 0)
    #expect(abs(fit.lambda - 100) < 1e-6)
    #expect(fit.peakConcurrency == nil)
    #expect(fit.maxThroughput == nil)
  }

  @Test func needsThreeConcurrencies() {
    #expect(throws: USLFitError.self) {
      try USLFit.fit([.init(concurrency: 1, throughput: 10), .init(concurrency: 2, throughput: 19)])
    }
    #expect(throws: USLFitError.self) {
      try USLFit.fit([1, 2, 4].map { USLFit.Point(concurrency: $0, throughput: 0) })
    }
    // Exactly three: a fit, without standard errors (no degrees of freedom left).
    let fit = try? USLFit.fit(
      [1, 2, 4].map { n in USLFit.Point(concurrency: n, throughput: USLFit.model(lambda: 10, sigma: 0.1, kappa: 0.01, n: n)) })
    #expect(fit != nil)
    #expect(fit?.sigmaError == nil)
  }

  @Test func theCurveRunsFromOneUserUpOnALogScale() throws {
    let fit = try USLFit.fit(measurements(lambda: 1_000, sigma: 0.05, kappa: 0.001))
    let curve = fit.curve(upTo: 64, count: 7)
    #expect(curve.map { ($0.concurrency * 1_000).rounded() / 1_000 } == [1, 2, 4, 8, 16, 32, 64])
    #expect(abs(curve[3].throughput - fit.throughput(at: 8)) < 1e-9)
  }
}
