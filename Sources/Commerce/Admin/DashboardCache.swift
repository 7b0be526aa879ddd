import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Synchronization

/// GetDashboard's figures, kept per requested window for up to a minute (admin.proto: "they may
/// be up to 60 seconds old"), so that a console refreshing every few seconds, or several admins
/// watching, cost the owning services one round of statistics queries a minute.
///
/// Keyed by the request's window as given: an absent end ("now") is its own key, so the default
/// view is served from one entry that is recomputed once it is a minute old. At most `capacity`
/// windows are kept; the oldest entry makes room for a new one. Two callers that miss at once
/// both compute; the later answer replaces the earlier.
final class DashboardCache: Sendable {
  static let maximumAge: TimeInterval = 60
  let capacity: Int
  private let entries = Mutex<[String: CommerceV1.GetDashboardResponse]>([:])

  init(capacity: Int = 64) { self.capacity = capacity }

  static func key(_ request: CommerceV1.GetDashboardRequest) -> String {
    func text(_ time: GoogleProtobuf.Timestamp?) -> String { time.map { "\($0.seconds).\($0.nanos)" } ?? "-" }
    return text(request.windowStartTime) + "/" + text(request.windowEndTime)
  }

  /// The cached figures for `request` when they were computed at most a minute before `now`;
  /// otherwise the result of `compute`, kept.
  func figures(
    for request: CommerceV1.GetDashboardRequest, now: Date, compute: () async throws -> CommerceV1.GetDashboardResponse
  ) async throws -> CommerceV1.GetDashboardResponse {
    let key = Self.key(request)
    if let cached = entries.withLock({ $0[key] }), let computed = cached.computeTime?.date,
      now.timeIntervalSince(computed) <= Self.maximumAge, computed <= now
    {
      return cached
    }
    let fresh = try await compute()
    entries.withLock { entries in
      if entries[key] == nil, entries.count >= capacity,
        let oldest = entries.min(by: { ($0.value.computeTime?.date ?? .distantPast) < ($1.value.computeTime?.date ?? .distantPast) })
      {
        entries[oldest.key] = nil
      }
      entries[key] = fresh
    }
    return fresh
  }
}
