import Testing

@testable import RPC

@Suite("Per-call flow control")
struct CallCreditTests {
  @Test("a message that fits the window waits until there is credit for all of it")
  func wholeMessages() {
    var credit = OutboundCredit(initial: 100)
    let check1 = credit.take(forMessageWith: 60) == 60
    #expect(check1)
    let check2 = credit.take(forMessageWith: 60) == 0  // 40 left: no partial send
    #expect(check2)
    let check3 = credit.add(20)
    #expect(check3)
    let check4 = credit.take(forMessageWith: 60) == 60
    #expect(check4)
  }

  @Test("a message larger than the window starts with the whole window, then follows credit")
  func largeMessages() {
    var credit = OutboundCredit(initial: 100)
    let check5 = credit.take(forMessageWith: 10) == 10
    #expect(check5)
    let check6 = credit.take(forMessageWith: 250) == 0  // not the whole window yet
    #expect(check6)
    let check7 = credit.add(10)
    #expect(check7)
    let check8 = credit.take(forMessageWith: 250) == 100
    #expect(check8)
    let check9 = credit.add(30)
    #expect(check9)
    let check10 = credit.take(forMessageWith: 150) == 30
    #expect(check10)
    let check11 = credit.add(200)
    #expect(check11)
    let check12 = credit.take(forMessageWith: 120) == 120  // the rest, then back to whole messages
    #expect(check12)
    let check13 = credit.take(forMessageWith: 90) == 0  // whole messages again: 90 does not fit the 80 left
    #expect(check13)
  }

  @Test("a reader that consumes nothing holds its peer to one window of messages")
  func boundedWithoutReading() {
    var sender = OutboundCredit(initial: 64)
    var receiver = InboundCredit(initial: 64)
    var sent = 0
    while case let granted = sender.take(forMessageWith: 20), granted > 0 {
      let check14 = receiver.receive(granted)
      #expect(check14)
      sent += 1
    }
    #expect(sent == 3)  // 60 of 64 bytes; the 4th message does not fit and is not split
  }

  @Test("credit returns after half a window, or when the reader has consumed everything")
  func release() {
    var receiver = InboundCredit(initial: 100)
    let check15 = receiver.receive(10) && receiver.receive(10) && receiver.receive(40)
    #expect(check15)
    let check16 = receiver.release(10) == nil  // 10 consumed, 50 still queued
    #expect(check16)
    let check17 = receiver.release(40) == 50  // half a window consumed
    #expect(check17)
    let check18 = receiver.release(10) == 10  // queue empty: a waiting sender must not starve
    #expect(check18)
  }

  @Test("no deadlock: a sender waiting for room for a big message gets it once the reader catches up")
  func noDeadlock() {
    var sender = OutboundCredit(initial: 100)
    var receiver = InboundCredit(initial: 100)
    let check19 = sender.take(forMessageWith: 30) == 30 && receiver.receive(30)
    #expect(check19)
    let check20 = sender.take(forMessageWith: 90) == 0  // needs 90, has 70
    #expect(check20)
    if let increment = receiver.release(30) {
      let added = sender.add(increment)
      #expect(added)
    }
    let check21 = sender.take(forMessageWith: 90) == 90
    #expect(check21)
  }
}
