/// Renders reports as one self-contained HTML page: inline CSS and inline SVG charts, no
/// script, no font, nothing fetched from anywhere (the only URL in it is the SVG namespace).
/// Every text that comes from a report or a caller is escaped.
///
/// `render(report:extraSections:)` draws one run (``LoadReport``): its settings, the summary
/// per operation, latency over time with errors marked, offered against achieved rate,
/// latency against throughput and the percentile spectrum, corrected and uncorrected. Other
/// commands add their own sections (``capacitySteps(steps:passed:objective:title:)``,
/// ``uslFit(measured:fitted:linear:parameters:title:)``, or any ``ReportSection`` built of
/// ``SVGChart``s and ``ReportTable``s), or render a page of sections alone with
/// `render(title:facts:sections:)`.
public enum HTMLReport {
  /// One run's page, with `extraSections` after the run's own.
  public static func render(report: LoadReport, extraSections: [ReportSection] = []) -> String {
    render(title: title(of: report), facts: facts(of: report), sections: sections(for: report) + extraSections)
  }

  /// A page of `sections` under `title`, with `facts` (label, value) in a table at the top.
  public static func render(title: String, facts: [(String, String)] = [], sections: [ReportSection]) -> String {
    var out = SVGWriter()
    out.text += "<!DOCTYPE html>\n"
    out.open("html", [("lang", "en")])
    out.open("head")
    out.empty("meta", [("charset", "utf-8")])
    out.empty("meta", [("name", "viewport"), ("content", "width=device-width, initial-scale=1")])
    out.element("title", text: title)
    out.open("style")
    out.text += stylesheet
    out.close("style")
    out.close("head")
    out.text += "\n"
    out.open("body")
    out.open("header")
    out.element("h1", text: title)
    if !facts.isEmpty {
      out.open("table", [("class", "facts")])
      for (label, value) in facts {
        out.open("tr")
        out.element("th", text: label)
        out.element("td", text: value)
        out.close("tr")
      }
      out.close("table")
    }
    if sections.count > 1 {
      out.open("nav")
      for section in sections {
        out.element("a", [("href", "#" + anchor(section.id))], text: section.title)
      }
      out.close("nav")
    }
    out.close("header")
    out.text += "\n"
    for section in sections {
      out.open("section", [("id", anchor(section.id))])
      out.element("h2", text: section.title)
      for content in section.content {
        switch content {
        case .paragraph(let text):
          out.element("p", text: text)
        case .table(let table):
          render(table, into: &out)
        case .chart(let chart):
          out.open("figure")
          out.text += chart.svg()
          if let caption = chart.caption { out.element("figcaption", text: caption) }
          out.close("figure")
        }
        out.text += "\n"
      }
      out.close("section")
      out.text += "\n"
    }
    out.close("body")
    out.close("html")
    out.text += "\n"
    return out.text
  }

  /// Escapes text for HTML (text and quoted attribute values): & < > " '.
  public static func escape(_ text: String) -> String { escapeHTML(text) }

  private static func render(_ table: ReportTable, into out: inout SVGWriter) {
    out.open("table", [("class", "data")])
    out.open("thead")
    out.open("tr")
    for (column, cell) in table.header.enumerated() {
      out.element("th", table.numericColumns.contains(column) ? [("class", "num")] : [], text: cell)
    }
    out.close("tr")
    out.close("thead")
    out.open("tbody")
    for (index, row) in table.rows.enumerated() {
      out.open("tr", table.secondaryRows.contains(index) ? [("class", "secondary")] : [])
      for (column, cell) in row.enumerated() {
        out.element("td", table.numericColumns.contains(column) ? [("class", "num")] : [], text: cell)
      }
      out.close("tr")
    }
    out.close("tbody")
    out.close("table")
  }

  /// An id made of lowercase letters, digits and dashes.
  static func anchor(_ id: String) -> String {
    let kept = id.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" }
    return kept.isEmpty ? "section" : String(kept)
  }

  static let stylesheet = """
    body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:24px auto;max-width:980px;\
    padding:0 16px;line-height:1.4}
    h1{font-size:22px;margin:0 0 12px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;\
    padding-bottom:4px}
    table{border-collapse:collapse;font-size:13px;margin:8px 0}
    th,td{padding:3px 10px;text-align:left;vertical-align:top}
    table.data th{border-bottom:2px solid #ccc}table.data td{border-bottom:1px solid #eee}
    table.facts th{color:#555;font-weight:500;padding-left:0;white-space:nowrap}
    .num{text-align:right;font-variant-numeric:tabular-nums}
    tr.secondary td{color:#777;font-size:12px}
    nav{font-size:13px;margin:8px 0}nav a{margin-right:14px;color:#1f5fa8;text-decoration:none}
    figure{margin:12px 0 20px}svg.chart{max-width:100%;height:auto;display:block}
    figcaption{font-size:12px;color:#555;margin-top:2px}
    p{font-size:14px;margin:6px 0}p.warning{color:#b00020}
    """
}
