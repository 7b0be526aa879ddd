extension HTMLReport {
  /// Several runs on one page (for example a demo's checkout run and its flash sale): each run's
  /// facts as a table, then its sections, in the order given.
  public static func render(reports: [LoadReport], title: String) -> String {
    if reports.count == 1 { return render(report: reports[0]) }
    var sections: [ReportSection] = []
    for (index, report) in reports.enumerated() {
      let prefix = "run\(index + 1)-"
      sections.append(
        ReportSection(
          id: prefix + "facts", title: "Run \(index + 1): \(report.run.scenario)",
          content: [.table(ReportTable(header: ["", ""], rows: facts(of: report).map { [$0.0, $0.1] }))]))
      for var section in self.sections(for: report) {
        section.id = prefix + section.id
        section.title = "\(report.run.scenario): \(section.title)"
        sections.append(section)
      }
    }
    return render(title: title, sections: sections)
  }
}
