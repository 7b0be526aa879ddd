public import CommerceAPI
public import Foundation
import Messages

/// A validated statistics window (common.proto TimeWindow): [start, end), at most 366 days.
public struct StatsWindow: Sendable, Equatable {
  /// The start, inclusive.
  public let start: Date
  /// The end, exclusive.
  public let end: Date

  /// The longest window a statistics RPC accepts.
  public static let maximumSpan: TimeInterval = 366 * 86_400

  /// Validates a request's window, or throws INVALID_ARGUMENT naming `field`.
  public init(_ window: CommerceV1.TimeWindow?, field: String = "window") throws(CommerceError) {
    guard let window, let start = window.startTime?.date, let end = window.endTime?.date else {
      throw .invalidArgument(field: field, "start_time and end_time are required")
    }
    guard end > start else { throw .invalidArgument(field: field, "end_time must be after start_time") }
    guard end.timeIntervalSince(start) <= Self.maximumSpan else {
      throw .invalidArgument(field: field, "the window spans more than 366 days")
    }
    self.start = start
    self.end = end
  }

  /// The window as the contract's message.
  public var message: CommerceV1.TimeWindow {
    .with {
      $0.startTime = .init(start)
      $0.endTime = .init(end)
    }
  }
}
