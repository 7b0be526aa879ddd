import CommerceAPI
import CommerceKit
import Foundation
import Messages

/// A review as stored.
struct ReviewRecord: Sendable, Equatable {
  /// The seller's answer.
  struct Reply: Sendable, Equatable {
    var body: String
    var authorID: String
    var createdAt: Date
    var updatedAt: Date
  }

  var id: UUID
  /// Creation order, the lists' keyset position.
  var seq: Int64
  var productID: String
  var authorID: String
  var orderID: String
  var rating: Int
  var title: String
  var body: String
  var hidden: Bool
  var moderationNote: String
  var reply: Reply?
  var createdAt: Date
  var updatedAt: Date
  var version: Int64

  /// The contract's message; `authorName` is the author's display name now.
  func message(authorName: String) -> CommerceV1.Review {
    .with {
      $0.reviewId = id.lowercasedString
      $0.productId = productID
      $0.authorId = authorID
      $0.authorDisplayName = authorName
      $0.orderId = orderID
      $0.rating = Int32(rating)
      $0.title = title
      $0.body = body
      $0.status = hidden ? .hidden : .published
      $0.moderationNote = hidden ? moderationNote : ""
      $0.createTime = .init(createdAt)
      $0.updateTime = .init(updatedAt)
      $0.version = version
      if let reply {
        $0.sellerReply = .with {
          $0.body = reply.body
          $0.authorId = reply.authorID
          $0.createTime = .init(reply.createdAt)
          $0.updateTime = .init(reply.updatedAt)
        }
      }
    }
  }
}

/// The published reviews of a product counted per rating, with the summary's version.
struct RatingCounts: Sendable, Equatable {
  /// Five counts, for ratings 1 to 5.
  var counts: [Int64]
  /// Goes up by one with every change; 0 when the product has no summary row yet.
  var version: Int64

  static let empty = RatingCounts(counts: [0, 0, 0, 0, 0], version: 0)

  var count: Int64 { counts.reduce(0, +) }

  /// The contract's summary: the mean of the ratings, 0 without reviews.
  func summary(productID: String) -> CommerceV1.RatingSummary {
    let total = count
    let sum = counts.enumerated().reduce(Int64(0)) { $0 + Int64($1.offset + 1) * $1.element }
    return .with {
      $0.productId = productID
      $0.average = total == 0 ? 0 : Double(sum) / Double(total)
      $0.count = total
      $0.histogram = counts.enumerated().map { entry in
        .with {
          $0.rating = Int32(entry.offset + 1)
          $0.count = entry.element
        }
      }
    }
  }
}
