import Foundation

/// A fit of Gunther's Universal Scalability Law to throughput measured at several
/// concurrencies:
///
///     X(N) = λN / (1 + σ(N − 1) + κN(N − 1))
///
/// λ is the throughput of one user alone, σ the contention (the serial share: queueing on a
/// shared resource), κ the coherency cost (crosstalk: each pair of users costs work, which makes
/// throughput fall past a peak). Fitted by non-linear least squares on the throughputs
/// (Levenberg–Marquardt from a few starting points, the first from Gunther's linearisation),
/// with σ, κ ≥ 0.
public struct USLFit: Sendable, Codable, Equatable {
  /// One measurement: throughput (per second) at a concurrency.
  public struct Point: Sendable, Codable, Equatable {
    public var concurrency: Double
    public var throughput: Double

    public init(concurrency: Double, throughput: Double) {
      self.concurrency = concurrency
      self.throughput = throughput
    }
  }

  public var lambda: Double
  public var sigma: Double
  public var kappa: Double
  /// Standard errors of the parameters (from the Jacobian at the solution: s²(JᵀJ)⁻¹ with
  /// s² = RSS / (n − p), p the parameters fitted); nil without more points than parameters,
  /// when JᵀJ is singular, and for a parameter held at 0 (the data are fitted as well
  /// without it).
  public var lambdaError: Double?
  public var sigmaError: Double?
  public var kappaError: Double?
  /// 1 − RSS/TSS over the throughputs.
  public var rSquared: Double
  /// √(RSS / n), in throughput's unit.
  public var rmse: Double
  public var points: Int
  /// N* = √((1 − σ)/κ), where throughput peaks; nil when κ = 0 (no retrograde region).
  public var peakConcurrency: Double?
  /// X(N*) at the peak; with κ = 0 and σ > 0, the limit λ/σ that throughput approaches and
  /// never reaches; nil when the fit scales linearly (σ = κ = 0).
  public var maxThroughput: Double?
  /// How to read the peak, in words.
  public var note: String

  /// The fitted throughput at concurrency `n`.
  public func throughput(at n: Double) -> Double {
    Self.model(lambda: lambda, sigma: sigma, kappa: kappa, n: n)
  }

  static func model(lambda: Double, sigma: Double, kappa: Double, n: Double) -> Double {
    lambda * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))
  }

  /// The fitted curve at `count` concurrencies from 1 to `upTo`, spaced evenly on a log scale
  /// (for plotting against the measurements).
  public func curve(upTo: Double, count: Int = 64) -> [Point] {
    let top = Swift.max(upTo, 1)
    guard count > 1 else { return [Point(concurrency: 1, throughput: throughput(at: 1))] }
    return (0..<count).map { index in
      let n = exp(log(top) * Double(index) / Double(count - 1))
      return Point(concurrency: n, throughput: throughput(at: n))
    }
  }

  /// Fits the law to `measurements` (at least three distinct concurrencies, throughputs
  /// positive).
  public static func fit(_ measurements: [Point]) throws -> USLFit {
    let points = measurements.filter { $0.concurrency >= 1 && $0.throughput.isFinite && $0.concurrency.isFinite }
    guard Set(points.map(\.concurrency)).count >= 3 else {
      throw USLFitError("the fit needs measurements at three or more concurrencies")
    }
    guard points.contains(where: { $0.throughput > 0 }) else {
      throw USLFitError("no concurrency had any throughput")
    }
    let ns = points.map(\.concurrency)
    let xs = points.map(\.throughput)
    let evaluate: ([Double]) -> (values: [Double], jacobian: [[Double]]) = { theta in
      let (lambda, sigma, kappa) = (theta[0], theta[1], theta[2])
      var values: [Double] = []
      var jacobian: [[Double]] = []
      for n in ns {
        let d = 1 + sigma * (n - 1) + kappa * n * (n - 1)
        values.append(lambda * n / d)
        jacobian.append([n / d, -lambda * n * (n - 1) / (d * d), -lambda * n * n * (n - 1) / (d * d)])
      }
      return (values, jacobian)
    }
    func solver(fixing fixed: Set<Int> = []) -> LevenbergMarquardt {
      LevenbergMarquardt(
        evaluate: evaluate, observed: xs, lowerBounds: [0, 0, 0],
        upperBounds: (0..<3).map { fixed.contains($0) ? 0 : .infinity })
    }

    let lambda0 = zip(ns, xs).map { $1 / $0 }.max()!
    var starts = [[lambda0, 0, 0], [lambda0, 0.1, 1e-4], [lambda0, 0.01, 1e-2]]
    if let linear = linearisedStart(ns: ns, xs: xs, lambda: lambda0) { starts.insert(linear, at: 0) }
    let free = starts.map { solver().minimize(from: $0) }.min { $0.residualSumOfSquares < $1.residualSumOfSquares }!
    // A parameter at its bound 0 is only approached by the iterations (κ = 1e-12 would put the
    // peak at a million users): refit with it held at 0, and keep that fit when it is as good.
    let mean = xs.reduce(0, +) / Double(xs.count)
    let tss = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
    let slack = free.residualSumOfSquares * 1e-6 + tss * 1e-12 + 1e-300
    for fixed: Set<Int> in [[1, 2], [2], [1]] {
      var start = free.parameters
      for index in fixed { start[index] = 0 }
      let held = solver(fixing: fixed).minimize(from: start)
      if held.residualSumOfSquares <= free.residualSumOfSquares + slack {
        return USLFit(solution: held, ns: ns, xs: xs, held: fixed)
      }
    }
    return USLFit(solution: free, ns: ns, xs: xs)
  }

  /// Gunther's linearisation: with λ known, N/C(N) − 1 = σ(N − 1) + κN(N − 1), where
  /// C(N) = X(N)/λ; a least-squares line through the origin in (N − 1, N(N − 1)).
  static func linearisedStart(ns: [Double], xs: [Double], lambda: Double) -> [Double]? {
    var a11 = 0.0, a12 = 0.0, a22 = 0.0, b1 = 0.0, b2 = 0.0
    for (n, x) in zip(ns, xs) where n > 1 && x > 0 {
      let y = n * lambda / x - 1
      let u = n - 1, v = n * (n - 1)
      a11 += u * u
      a12 += u * v
      a22 += v * v
      b1 += u * y
      b2 += v * y
    }
    guard let solution = LevenbergMarquardt.solve([[a11, a12], [a12, a22]], [b1, b2]) else { return nil }
    return [lambda, Swift.max(0, solution[0]), Swift.max(0, solution[1])]
  }

  init(solution: LevenbergMarquardt.Solution, ns: [Double], xs: [Double], held: Set<Int> = []) {
    lambda = solution.parameters[0]
    sigma = solution.parameters[1]
    kappa = solution.parameters[2]
    points = ns.count
    let rss = solution.residualSumOfSquares
    let mean = xs.reduce(0, +) / Double(xs.count)
    let tss = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
    rSquared = tss > 0 ? 1 - rss / tss : (rss == 0 ? 1 : 0)
    rmse = (rss / Double(xs.count)).squareRoot()
    // Standard errors of the free parameters: s²(JᵀJ)⁻¹ over their rows and columns alone.
    let free = (0..<3).filter { !held.contains($0) }
    let reduced = free.map { i in free.map { j in solution.normalMatrix[i][j] } }
    if ns.count > free.count, let covariance = LevenbergMarquardt.invert(reduced) {
      let variance = rss / Double(ns.count - free.count)
      var errors: [Double?] = [nil, nil, nil]
      for (k, index) in free.enumerated() where covariance[k][k] >= 0 {
        let error = (variance * covariance[k][k]).squareRoot()
        errors[index] = error.isFinite ? error : nil
      }
      lambdaError = errors[0]
      sigmaError = errors[1]
      kappaError = errors[2]
    }
    let measuredTop = ns.max() ?? 1
    if kappa > 0 {
      let peak = sigma < 1 ? ((1 - sigma) / kappa).squareRoot() : 1
      peakConcurrency = Swift.max(1, peak)
      maxThroughput = Self.model(lambda: lambda, sigma: sigma, kappa: kappa, n: Swift.max(1, peak))
      if sigma >= 1 {
        note = "σ ≥ 1: concurrency gains nothing; throughput is highest with one user"
      } else if peak > 2 * measuredTop {
        note = "the peak lies far beyond the measured concurrencies (extrapolated): measure higher to confirm it"
      } else {
        note = "throughput peaks near N* and falls beyond it (the retrograde region)"
      }
    } else if sigma > 0 {
      maxThroughput = lambda / sigma
      note = "no retrograde region (κ = 0): throughput approaches λ/σ as concurrency grows and never falls"
    } else {
      note = "no retrograde region (σ = κ = 0): throughput scaled linearly over the measured concurrencies"
    }
  }
}

/// Why a fit could not be made.
public struct USLFitError: Error, Sendable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
