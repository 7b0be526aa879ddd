public import CommerceAPI
public import Messages

extension SampleMessages {
  /// A first page of 20 search results with facets, as the storefront's search page asks for
  /// it: titles, prices, ratings, image URLs and sellers for every product; category, price,
  /// rating and attribute facets; a next-page token and a total estimate. 5,928 bytes on the
  /// wire.
  public static func searchProductsResponse() -> CommerceV1.SearchProductsResponse {
    let products: [(title: String, price: Int64, rating: Double, reviews: Int64, seller: String)] = [
      ("Ceramic Pour-Over Coffee Dripper, Size 02, Matte White", 2_499, 4.7, 1_832, "Hario Home Goods"),
      ("Stainless Steel Gooseneck Kettle 1.0 L with Thermometer", 4_999, 4.6, 964, "Brewista Direct"),
      ("Burr Coffee Grinder, 40 Grind Settings, Conical Steel Burrs", 12_900, 4.4, 2_710, "Baratza Store"),
      ("Unbleached Paper Filters for 02 Drippers, 100 Count", 699, 4.8, 5_021, "Hario Home Goods"),
      ("Digital Coffee Scale with Timer, 0.1 g Resolution", 2_995, 4.5, 3_377, "Acaia Official"),
      ("Glass Coffee Server 600 ml, Heat-Resistant Borosilicate", 2_250, 4.6, 712, "Hario Home Goods"),
      ("French Press 1 L, Double-Wall Stainless Steel", 3_999, 4.3, 1_458, "Frieling Europe"),
      ("Aeropress Original Coffee Maker with 350 Filters", 3_995, 4.8, 9_862, "AeroPress Inc."),
      ("Cold Brew Coffee Maker 1.5 L with Fine Mesh Filter", 2_799, 4.2, 2_103, "Takeya Outlet"),
      ("Whole Bean Coffee, Ethiopia Yirgacheffe, Light Roast, 340 g", 1_650, 4.5, 640, "Roastery Nord"),
      ("Whole Bean Coffee, Colombia Huila, Medium Roast, 1 kg", 3_490, 4.4, 1_190, "Roastery Nord"),
      ("Espresso Tamper 58 mm, Calibrated Spring, Walnut Handle", 3_450, 4.7, 431, "Normcore Tools"),
      ("Milk Frothing Pitcher 600 ml, Latte Art Spout", 1_899, 4.6, 2_288, "Rattleware"),
      ("Manual Milk Frother, Stainless Steel Double Mesh", 2_199, 4.0, 318, "Bellman Brand"),
      ("Ceramic Cappuccino Cups 180 ml, Set of 4, Speckled Grey", 3_200, 4.7, 207, "Loveramics"),
      ("Double-Walled Glass Espresso Cups 80 ml, Set of 2", 1_995, 4.5, 3_906, "Bodum Outlet"),
      ("Descaling Solution for Espresso Machines, 2 x 250 ml", 1_299, 4.6, 4_417, "Urnex Brands"),
      ("Coffee Canister with CO2 Valve, 1.2 L, Matte Black", 2_499, 4.6, 6_035, "Planetary Design"),
      ("Knock Box for Espresso Grounds, Removable Rubber Bar", 2_799, 4.3, 889, "Dreamfarm"),
      ("Barista Cleaning Brush Set, Grouphead and Portafilter", 1_099, 4.4, 1_540, "Pallo Tools"),
    ]
    return CommerceV1.SearchProductsResponse.with { response in
      response.products = products.enumerated().map { index, product in
        let productId = identifier(2_000 + UInt64(index))
        return CommerceV1.ProductSummary.with {
          $0.productId = productId
          $0.title = product.title
          $0.price = .with {
            $0.amountMinor = product.price
            $0.currency = "EUR"
          }
          $0.imageUrl = "https://img.emporium.example/products/\(productId)/primary-640w.webp"
          $0.ratingAverage = product.rating
          $0.ratingCount = product.reviews
          $0.inStock = index % 7 != 3
          $0.sellerId = sellerIdentifier(product.seller)
          $0.sellerName = product.seller
        }
      }
      response.nextPageToken = "CgJ0bxIQeyJzIjo0LjgsImlkIjoiMjAifRoIcmVsZXZhbmNl"
      response.estimatedTotalCount = 1_284
      response.facets = .with { facets in
        facets.categories = [
          ("coffee-equipment", "Coffee Equipment", 612), ("coffee-beans", "Coffee Beans", 288),
          ("kitchen-scales", "Kitchen Scales", 141), ("tableware", "Tableware", 119),
          ("cleaning", "Cleaning & Care", 74), ("storage", "Food Storage", 50),
        ].map { value, label, count in
          CommerceV1.FacetBucket.with {
            $0.value = value
            $0.label = label
            $0.count = Int64(count)
          }
        }
        let bounds: [Int64] = [0, 1_500, 3_000, 6_000, 12_000]
        facets.priceBuckets = bounds.enumerated().map { index, lower in
          CommerceV1.PriceBucket.with {
            $0.minPrice = .with {
              $0.amountMinor = lower
              $0.currency = "EUR"
            }
            if index + 1 < bounds.count {
              $0.maxPrice = .with {
                $0.amountMinor = bounds[index + 1]
                $0.currency = "EUR"
              }
            }
            $0.count = [402, 455, 281, 109, 37][index]
          }
        }
        facets.ratingBuckets = [(4, 1_015), (3, 1_201), (2, 1_260), (1, 1_284)].map { rating, count in
          CommerceV1.RatingBucket.with {
            $0.minRating = Int32(rating)
            $0.count = Int64(count)
          }
        }
        facets.attributes = [
          ("color", [("black", 388), ("white", 301), ("stainless", 254), ("grey", 97), ("red", 41)]),
          ("material", [("stainless steel", 466), ("glass", 212), ("ceramic", 187), ("plastic", 130)]),
        ].map { name, values in
          CommerceV1.AttributeFacet.with {
            $0.name = name
            $0.values = values.map { value, count in
              CommerceV1.FacetBucket.with {
                $0.value = value
                $0.label = value
                $0.count = Int64(count)
              }
            }
          }
        }
        facets.inStockCount = 1_106
      }
    }
  }

  /// One identifier per seller name: the name's FNV-1a hash seeds ``identifier(_:)``.
  private static func sellerIdentifier(_ name: String) -> String {
    identifier(name.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 })
  }
}
