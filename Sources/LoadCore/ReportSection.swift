/// One section of an HTML report: a heading and its content in order (paragraphs, tables,
/// charts). Run reports are made of them, and so are the capacity search's and the sweep's:
/// ``HTMLReport`` renders any list of sections into one page.
public struct ReportSection: Sendable {
  /// What a section holds, in the order given.
  public enum Content: Sendable {
    /// Plain text (escaped).
    case paragraph(String)
    case table(ReportTable)
    /// A chart, with its caption (if any) under it.
    case chart(SVGChart)
  }

  /// The anchor of the section (letters, digits and dashes are kept, the rest become dashes).
  public var id: String
  public var title: String
  public var content: [Content]

  public init(id: String, title: String, content: [Content]) {
    self.id = id
    self.title = title
    self.content = content
  }
}

/// A table of text cells (escaped). Columns in `numericColumns` are right-aligned; rows in
/// `secondaryRows` are shown dimmed (the uncorrected line under each operation, say).
public struct ReportTable: Sendable {
  public var header: [String]
  public var rows: [[String]]
  public var numericColumns: Set<Int>
  public var secondaryRows: Set<Int>

  public init(header: [String], rows: [[String]], numericColumns: Set<Int> = [], secondaryRows: Set<Int> = []) {
    self.header = header
    self.rows = rows
    self.numericColumns = numericColumns
    self.secondaryRows = secondaryRows
  }
}
