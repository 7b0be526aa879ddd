extension Substring {
  /// Without leading and trailing spaces and tabs.
  func trimmingSpaces() -> Substring {
    var slice = self
    while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
    while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
    return slice
  }
}
