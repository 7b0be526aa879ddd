/// Non-linear least squares by Levenberg–Marquardt, for the few parameters of a model fit (the
/// Universal Scalability Law has three): minimises Σ (y − f(θ))² from a starting point, with
/// each parameter kept within its bounds (a step that crosses one is clipped to it; equal
/// bounds hold a parameter fixed).
///
/// Marquardt's scaling (the damping multiplies the diagonal of JᵀJ) makes the step independent
/// of the parameters' units, so λ in the thousands and κ in the millionths fit together.
struct LevenbergMarquardt {
  /// The model's values at θ for every point, and their Jacobian (one row per point, one
  /// column per parameter).
  var evaluate: ([Double]) -> (values: [Double], jacobian: [[Double]])
  var observed: [Double]
  var lowerBounds: [Double]
  var upperBounds: [Double]
  var maxIterations = 500

  struct Solution {
    var parameters: [Double]
    var residualSumOfSquares: Double
    /// JᵀJ at the solution (for the parameters' covariance).
    var normalMatrix: [[Double]]
    var iterations: Int
  }

  func minimize(from start: [Double]) -> Solution {
    var theta = clip(start)
    var (values, jacobian) = evaluate(theta)
    var rss = sumOfSquares(values)
    var damping = 1e-3
    var iterations = 0
    while iterations < maxIterations {
      iterations += 1
      let residuals = zip(observed, values).map { $0 - $1 }
      var normal = Self.transposeTimes(jacobian, jacobian)
      var gradient = Self.transposeTimes(jacobian, residuals)
      // A parameter held fixed (equal bounds) takes no step: its row and column drop out.
      for i in theta.indices where lowerBounds[i] >= upperBounds[i] {
        for j in theta.indices {
          normal[i][j] = 0
          normal[j][i] = 0
        }
        normal[i][i] = 1
        gradient[i] = 0
      }
      var improved = false
      // Raise the damping until a step lowers the sum of squares (or the damping is absurd).
      while damping < 1e16 {
        var damped = normal
        for i in damped.indices { damped[i][i] += damping * Swift.max(normal[i][i], 1e-300) }
        guard let step = Self.solve(damped, gradient) else {
          damping *= 10
          continue
        }
        let candidate = clip(zip(theta, step).map { $0 + $1 })
        let (candidateValues, candidateJacobian) = evaluate(candidate)
        let candidateRSS = sumOfSquares(candidateValues)
        if candidateRSS.isFinite && candidateRSS < rss {
          let relativeChange = (rss - candidateRSS) / Swift.max(rss, 1e-300)
          let stepSize = zip(step, theta).map { abs($0) / Swift.max(abs($1), 1e-12) }.max() ?? 0
          theta = candidate
          values = candidateValues
          jacobian = candidateJacobian
          rss = candidateRSS
          damping = Swift.max(damping / 3, 1e-12)
          improved = relativeChange > 1e-15 && stepSize > 1e-12
          break
        }
        damping *= 4
      }
      if !improved { break }
    }
    return Solution(
      parameters: theta, residualSumOfSquares: rss, normalMatrix: Self.transposeTimes(jacobian, jacobian),
      iterations: iterations)
  }

  private func clip(_ theta: [Double]) -> [Double] {
    theta.indices.map { Swift.min(Swift.max(theta[$0], lowerBounds[$0]), upperBounds[$0]) }
  }

  private func sumOfSquares(_ values: [Double]) -> Double {
    zip(observed, values).reduce(0) { sum, pair in sum + (pair.0 - pair.1) * (pair.0 - pair.1) }
  }

  /// Aᵀ B for A with rows of parameters (n × p) and B (n × q): p × q.
  static func transposeTimes(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
    let p = a.first?.count ?? 0
    let q = b.first?.count ?? 0
    var result = [[Double]](repeating: [Double](repeating: 0, count: q), count: p)
    for row in a.indices {
      for i in 0..<p {
        for j in 0..<q { result[i][j] += a[row][i] * b[row][j] }
      }
    }
    return result
  }

  /// Aᵀ v.
  static func transposeTimes(_ a: [[Double]], _ v: [Double]) -> [Double] {
    transposeTimes(a, v.map { [$0] }).map { $0[0] }
  }

  /// Solves A x = b by Gaussian elimination with partial pivoting; nil when A is singular.
  static func solve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
    let n = b.count
    var m = a
    var x = b
    for column in 0..<n {
      guard let pivot = (column..<n).max(by: { abs(m[$0][column]) < abs(m[$1][column]) }),
        abs(m[pivot][column]) > 1e-300, m[pivot][column].isFinite
      else { return nil }
      m.swapAt(column, pivot)
      x.swapAt(column, pivot)
      for row in (column + 1)..<n {
        let factor = m[row][column] / m[column][column]
        for k in column..<n { m[row][k] -= factor * m[column][k] }
        x[row] -= factor * x[column]
      }
    }
    for row in stride(from: n - 1, through: 0, by: -1) {
      var sum = x[row]
      for k in (row + 1)..<n { sum -= m[row][k] * x[k] }
      x[row] = sum / m[row][row]
    }
    return x.allSatisfy(\.isFinite) ? x : nil
  }

  /// The inverse of A (columns solved one by one); nil when singular.
  static func invert(_ a: [[Double]]) -> [[Double]]? {
    let n = a.count
    var columns: [[Double]] = []
    for j in 0..<n {
      var unit = [Double](repeating: 0, count: n)
      unit[j] = 1
      guard let column = solve(a, unit) else { return nil }
      columns.append(column)
    }
    return (0..<n).map { i in (0..<n).map { j in columns[j][i] } }
  }
}
