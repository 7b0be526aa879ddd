import Foundation
import NIOCore

/// The storefront page the HTTP face serves at `/`: one static HTML file (no build step, no
/// external scripts), shipped as the target's resource, that uses only the HTTP/JSON API.
enum StorefrontPage {
  static let html: ByteBuffer = {
    guard let url = Bundle.module.url(forResource: "storefront", withExtension: "html"),
      let data = try? Data(contentsOf: url)
    else { return ByteBuffer(string: "<!doctype html><title>Emporium</title><p>The storefront page is missing from this build.") }
    return ByteBuffer(bytes: data)
  }()
}
