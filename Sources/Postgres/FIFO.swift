/// A first-in, first-out queue with amortized O(1) push and pop (no dependency on
/// swift-collections' `Deque` for this one use).
struct FIFO<Element> {
  private var storage: [Element?] = []
  private var head = 0

  init() {}

  var isEmpty: Bool { self.head == self.storage.count }
  var count: Int { self.storage.count - self.head }

  var first: Element? { self.isEmpty ? nil : self.storage[self.head] }

  mutating func append(_ element: Element) {
    self.storage.append(element)
  }

  mutating func popFirst() -> Element? {
    guard !self.isEmpty else { return nil }
    let element = self.storage[self.head]
    self.storage[self.head] = nil
    self.head += 1
    if self.head == self.storage.count {
      self.storage.removeAll(keepingCapacity: true)
      self.head = 0
    } else if self.head >= 64 && self.head * 2 >= self.storage.count {
      self.storage.removeFirst(self.head)
      self.head = 0
    }
    return element
  }

  /// Changes the first element in place.
  mutating func updateFirst(_ body: (inout Element) -> Void) {
    guard !self.isEmpty else { return }
    body(&self.storage[self.head]!)
  }

  /// Removes every element for which `shouldRemove` is true, keeping the order of the rest.
  mutating func removeAll(where shouldRemove: (Element) -> Bool) -> [Element] {
    var removed: [Element] = []
    var kept: [Element?] = []
    for index in self.head..<self.storage.count {
      let element = self.storage[index]!
      if shouldRemove(element) {
        removed.append(element)
      } else {
        kept.append(element)
      }
    }
    self.storage = kept
    self.head = 0
    return removed
  }

  /// Empties the queue, returning what it held in order.
  mutating func drain() -> [Element] {
    let elements = self.storage[self.head...].map { $0! }
    self.storage.removeAll(keepingCapacity: true)
    self.head = 0
    return elements
  }

  /// The elements in order.
  var elements: [Element] {
    self.storage[self.head...].map { $0! }
  }
}
