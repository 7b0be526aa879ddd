import CommerceAPI
import Foundation
import Messages
import RPC
import Synchronization

/// Authors' display names, read from AuthService.GetUser and kept for a minute, so a page of
/// reviews costs at most one call per author not seen lately. Names are shown "at the time of
/// reading" (reviews.proto) to within that minute. Bounded: past `capacity` names the oldest
/// half is dropped.
final class AuthorNames: Sendable {
  private let auth: CommerceV1.AuthService.Client
  private let lifetime: TimeInterval
  private let capacity: Int
  private let names = Mutex<[String: (name: String, readAt: Date)]>([:])

  init(auth: CommerceV1.AuthService.Client, lifetime: TimeInterval = 60, capacity: Int = 10_000) {
    self.auth = auth
    self.lifetime = lifetime
    self.capacity = capacity
  }

  /// The display names of `authors`; an account AuthService does not know has an empty name.
  /// Other failures propagate: a review list without names is better retried than shown wrong.
  func names(of authors: [String], now: Date = Date()) async throws -> [String: String] {
    var found: [String: String] = [:]
    var missing: [String] = []
    names.withLock { cache in
      for author in Set(authors) {
        if let entry = cache[author], now.timeIntervalSince(entry.readAt) < lifetime {
          found[author] = entry.name
        } else {
          missing.append(author)
        }
      }
    }
    guard !missing.isEmpty else { return found }
    let read = try await withThrowingTaskGroup(of: (String, String).self) { group in
      for author in missing {
        group.addTask {
          do {
            return (author, try await self.auth.getUser(.with { $0.userId = author }).user?.displayName ?? "")
          } catch let error as RPCError where error.code == .notFound {
            return (author, "")
          }
        }
      }
      var read: [String: String] = [:]
      for try await (author, name) in group { read[author] = name }
      return read
    }
    names.withLock { cache in
      if cache.count + read.count > capacity {
        for key in cache.sorted(by: { $0.value.readAt < $1.value.readAt }).prefix(cache.count / 2).map(\.key) { cache[key] = nil }
      }
      for (author, name) in read { cache[author] = (name, now) }
    }
    return found.merging(read) { $1 }
  }
}
