/// The words seeded products are made of: a category tree whose leaves name the things sold,
/// and brands, adjectives, materials, colors and phrases, so that search has a real vocabulary
/// (several hundred distinct words). Changing any list changes every data set made from it.
enum SeedVocabulary {
  /// How a leaf category's products are sized.
  enum Sizes: Sendable {
    case none
    case apparel
    case shoes
    case general
  }

  /// A node of the category tree; a leaf has nouns.
  struct Category: Sendable {
    var name: String
    var nouns: [String] = []
    var sizes: Sizes = .none
    var children: [Category] = []
  }

  /// A top-level department: its tree, brands, materials and price distribution.
  struct Department: Sendable {
    var category: Category
    var brands: [String]
    var materials: [String]
    /// Median price in major units, and the log-normal's shape.
    var medianPrice: Double
    var sigma: Double
  }

  static let departments: [Department] = [
    Department(
      category: Category(
        name: "Electronics",
        children: [
          Category(
            name: "Audio",
            children: [
              Category(name: "Headphones", nouns: ["Headphones", "Earbuds", "Headset", "Earphones"]),
              Category(name: "Speakers", nouns: ["Speaker", "Soundbar", "Subwoofer", "Amplifier"]),
              Category(name: "Home Audio", nouns: ["Turntable", "Receiver", "Radio", "Streamer"]),
            ]),
          Category(
            name: "Computers",
            children: [
              Category(name: "Laptops", nouns: ["Laptop", "Notebook Computer", "Ultrabook", "Chromebook"]),
              Category(name: "Peripherals", nouns: ["Keyboard", "Mouse", "Monitor", "Webcam", "Docking Station"]),
              Category(name: "Storage", nouns: ["External Drive", "SSD", "Memory Card", "Flash Drive"]),
            ]),
          Category(
            name: "Cameras",
            children: [
              Category(name: "Digital Cameras", nouns: ["Camera", "Camcorder", "Action Camera"]),
              Category(name: "Lenses", nouns: ["Lens", "Telephoto Lens", "Macro Lens"]),
              Category(name: "Drones", nouns: ["Drone", "Quadcopter", "Gimbal"]),
            ]),
          Category(
            name: "Phones",
            children: [
              Category(name: "Smartphones", nouns: ["Smartphone", "Phone"]),
              Category(name: "Phone Accessories", nouns: ["Charger", "Phone Case", "Cable", "Power Bank", "Screen Protector"]),
            ]),
        ]),
      brands: [
        "Voltaic", "Kestrel", "Lumen", "Northwind Audio", "Quanta", "Helix", "Sonora", "Pixelforge", "Arcline", "Tessera",
        "Zephyr Labs", "Octave", "Circuitry", "Brightwave", "Nimbus",
      ],
      materials: ["Aluminum", "Plastic", "Glass", "Steel", "Silicone", "Carbon Fiber", "Titanium"],
      medianPrice: 120, sigma: 0.9),
    Department(
      category: Category(
        name: "Home & Kitchen",
        children: [
          Category(
            name: "Furniture",
            children: [
              Category(name: "Tables", nouns: ["Dining Table", "Coffee Table", "Desk", "Nightstand", "Console Table"], sizes: .general),
              Category(name: "Seating", nouns: ["Chair", "Sofa", "Stool", "Bench", "Armchair", "Ottoman"], sizes: .general),
              Category(name: "Storage Furniture", nouns: ["Bookcase", "Shelf", "Cabinet", "Dresser", "Wardrobe"], sizes: .general),
            ]),
          Category(
            name: "Kitchen",
            children: [
              Category(name: "Cookware", nouns: ["Skillet", "Saucepan", "Wok", "Dutch Oven", "Stockpot", "Griddle"], sizes: .general),
              Category(name: "Small Appliances", nouns: ["Blender", "Toaster", "Kettle", "Stand Mixer", "Juicer", "Coffee Maker"]),
              Category(name: "Tableware", nouns: ["Plate", "Bowl", "Mug", "Tumbler", "Platter", "Teapot"]),
            ]),
          Category(
            name: "Bed & Bath",
            children: [
              Category(name: "Bedding", nouns: ["Duvet", "Pillow", "Sheet Set", "Blanket", "Quilt", "Comforter"], sizes: .general),
              Category(name: "Bath", nouns: ["Towel", "Bath Mat", "Shower Curtain", "Bathrobe"], sizes: .general),
            ]),
          Category(
            name: "Decor",
            children: [
              Category(name: "Lighting", nouns: ["Lamp", "Lantern", "Chandelier", "Sconce", "Pendant Light"]),
              Category(name: "Accents", nouns: ["Vase", "Mirror", "Rug", "Candle", "Wall Clock", "Picture Frame"], sizes: .general),
            ]),
        ]),
      brands: [
        "Nordhaven", "Alder & Finch", "Copperleaf", "Driftwood", "Hearthstone", "Juniper Lane", "Maple & Moss", "Oakridge",
        "Willowby", "Linden Home", "Casa Solana", "Ember & Ash", "Fernhill", "Larkspur", "Stillwater",
      ],
      materials: [
        "Oak", "Walnut", "Maple", "Bamboo", "Teak", "Acacia", "Marble", "Ceramic", "Porcelain", "Stoneware", "Cast Iron",
        "Stainless Steel", "Copper", "Brass", "Rattan", "Velvet", "Linen", "Cotton",
      ],
      medianPrice: 45, sigma: 0.95),
    Department(
      category: Category(
        name: "Clothing",
        children: [
          Category(
            name: "Men",
            children: [
              Category(name: "Men's Shirts", nouns: ["Shirt", "Polo", "Tee", "Henley", "Oxford Shirt"], sizes: .apparel),
              Category(name: "Men's Outerwear", nouns: ["Jacket", "Coat", "Parka", "Vest", "Windbreaker"], sizes: .apparel),
              Category(name: "Men's Pants", nouns: ["Jeans", "Chinos", "Trousers", "Shorts", "Joggers"], sizes: .apparel),
            ]),
          Category(
            name: "Women",
            children: [
              Category(name: "Dresses", nouns: ["Dress", "Gown", "Sundress", "Shirtdress"], sizes: .apparel),
              Category(name: "Women's Tops", nouns: ["Blouse", "Tunic", "Camisole", "Cardigan", "Sweater"], sizes: .apparel),
              Category(name: "Skirts & Leggings", nouns: ["Skirt", "Leggings", "Culottes"], sizes: .apparel),
            ]),
          Category(name: "Shoes", nouns: ["Sneakers", "Boots", "Loafers", "Sandals", "Slippers", "Brogues"], sizes: .shoes),
          Category(name: "Accessories", nouns: ["Scarf", "Hat", "Belt", "Gloves", "Beanie", "Wallet", "Backpack", "Tote Bag"]),
        ]),
      brands: [
        "Harbor & Hem", "Threadline", "Wildmere", "Saltwater", "Greyhound Denim", "Atelier Rue", "Kinfolk", "Loom & Lark",
        "Marlowe", "Peregrine", "Tallis", "Woolen Mill", "Cordova", "Indigo Row", "Sable",
      ],
      materials: ["Cotton", "Organic Cotton", "Linen", "Wool", "Merino", "Cashmere", "Silk", "Denim", "Leather", "Fleece", "Corduroy"],
      medianPrice: 38, sigma: 0.7),
    Department(
      category: Category(
        name: "Sports & Outdoors",
        children: [
          Category(
            name: "Camping",
            children: [
              Category(name: "Tents & Shelters", nouns: ["Tent", "Tarp", "Hammock", "Shelter"]),
              Category(name: "Sleeping Gear", nouns: ["Sleeping Bag", "Sleeping Pad", "Camp Pillow"]),
              Category(name: "Camp Kitchen", nouns: ["Camp Stove", "Cooler", "Water Filter", "Canteen", "Mess Kit"]),
            ]),
          Category(
            name: "Fitness",
            children: [
              Category(name: "Strength", nouns: ["Dumbbell", "Kettlebell", "Barbell", "Weight Plate"]),
              Category(name: "Yoga & Recovery", nouns: ["Yoga Mat", "Resistance Band", "Foam Roller", "Jump Rope"]),
            ]),
          Category(name: "Cycling", nouns: ["Bicycle", "Helmet", "Bike Light", "Saddle", "Bike Pump"], sizes: .general),
          Category(name: "Team Sports", nouns: ["Football", "Basketball", "Soccer Ball", "Volleyball", "Baseball Glove", "Hockey Stick"]),
        ]),
      brands: [
        "Everpeak", "Granite Ridge", "Trailborn", "Summit Supply", "Ironbark", "Basecamp", "Redwood Outfitters", "Switchback",
        "Tidewater", "Alpenglow", "Cairn", "Ridgeline", "Kinetic", "Fieldhouse", "Stride",
      ],
      materials: ["Nylon", "Ripstop Nylon", "Polyester", "Neoprene", "Aluminum", "Steel", "Rubber", "Foam", "Carbon Fiber"],
      medianPrice: 45, sigma: 0.9),
    Department(
      category: Category(
        name: "Toys & Games",
        children: [
          Category(name: "Building Toys", nouns: ["Building Set", "Block Set", "Construction Kit", "Marble Run"]),
          Category(name: "Puzzles", nouns: ["Jigsaw Puzzle", "Puzzle Cube", "Brain Teaser"]),
          Category(name: "Board Games", nouns: ["Board Game", "Card Game", "Chess Set", "Dice Set"]),
          Category(name: "Dolls & Plush", nouns: ["Plush Toy", "Doll", "Teddy Bear", "Action Figure", "Dollhouse"]),
        ]),
      brands: [
        "Bumblebee", "Tinker & Twig", "Playforge", "Whirligig", "Moonbeam", "Puzzlewood", "Hopscotch", "Kitebird", "Gumdrop",
        "Pocket Giant",
      ],
      materials: ["Wood", "Beech", "Plastic", "Cardboard", "Plush", "Felt", "Cotton"],
      medianPrice: 24, sigma: 0.7),
    Department(
      category: Category(
        name: "Beauty",
        children: [
          Category(name: "Skincare", nouns: ["Moisturizer", "Serum", "Cleanser", "Sunscreen", "Face Mask", "Toner"]),
          Category(name: "Hair Care", nouns: ["Shampoo", "Conditioner", "Hair Oil", "Hair Dryer", "Hairbrush"]),
          Category(name: "Fragrance", nouns: ["Perfume", "Cologne", "Body Mist", "Candle Diffuser"]),
        ]),
      brands: ["Lumière", "Botanica", "Dewdrop", "Velvet Fern", "Aurelia", "Saltbloom", "Petalworks", "Claro", "Meadowsweet", "Noor"],
      materials: ["Aloe", "Shea Butter", "Argan Oil", "Rosehip", "Vitamin C", "Hyaluronic Acid", "Charcoal", "Lavender Oil"],
      medianPrice: 19, sigma: 0.65),
    Department(
      category: Category(
        name: "Garden & Tools",
        children: [
          Category(name: "Power Tools", nouns: ["Drill", "Circular Saw", "Sander", "Angle Grinder", "Impact Driver", "Jigsaw"]),
          Category(name: "Hand Tools", nouns: ["Hammer", "Wrench", "Screwdriver Set", "Pliers", "Chisel", "Tape Measure"]),
          Category(
            name: "Gardening",
            nouns: ["Planter", "Watering Can", "Pruner", "Garden Hose", "Shovel", "Rake", "Wheelbarrow", "Trowel"],
            sizes: .general),
        ]),
      brands: [
        "Ironclad", "Hollis & Crane", "Greenthumb", "Forge & Field", "Torque", "Stonebridge", "Burrow", "Quarry", "Tillman",
        "Bramble",
      ],
      materials: ["Steel", "Forged Steel", "Cast Aluminum", "Fiberglass", "Ash Wood", "Terracotta", "Galvanized Steel", "Resin"],
      medianPrice: 48, sigma: 0.85),
    Department(
      category: Category(
        name: "Books & Office",
        children: [
          Category(name: "Stationery", nouns: ["Notebook", "Journal", "Planner", "Fountain Pen", "Pencil Set", "Marker Set"]),
          Category(name: "Office Furniture", nouns: ["Office Chair", "Standing Desk", "Filing Cabinet", "Desk Lamp"], sizes: .general),
          Category(name: "Books", nouns: ["Cookbook", "Novel", "Atlas", "Field Guide", "Workbook", "Poetry Collection"]),
        ]),
      brands: ["Inkwell", "Folio", "Papermoon", "Quillon", "Ledger & Co", "Scriptorium", "Margin", "Bindery", "Typewright", "Verso"],
      materials: ["Paper", "Recycled Paper", "Leather", "Cloth", "Steel", "Mesh", "Beech", "Brass"],
      medianPrice: 16, sigma: 0.8),
  ]

  static let adjectives = [
    "Classic", "Modern", "Rustic", "Vintage", "Compact", "Portable", "Premium", "Deluxe", "Essential", "Everyday",
    "Lightweight", "Heavy-Duty", "Ergonomic", "Wireless", "Foldable", "Adjustable", "Waterproof", "Insulated", "Handcrafted",
    "Minimalist", "Elegant", "Sturdy", "Slim", "Smart", "Eco-Friendly", "Organic", "Reversible", "Breathable", "Quilted",
    "Woven", "Brushed", "Polished", "Hammered", "Textured", "Cozy", "Soft", "Plush", "Durable", "Versatile", "Professional",
    "Heritage", "Nordic", "Coastal", "Urban", "Alpine", "Industrial", "Artisan", "Signature", "Studio", "Travel", "Outdoor",
    "Stackable", "Modular", "Cordless", "Rechargeable", "Ultralight", "Oversized", "Tailored", "Relaxed", "Weathered",
    "Glazed", "Matte", "Glossy", "Speckled", "Striped", "Checkered", "Embroidered", "Knitted", "Chunky", "Sleek", "Rugged",
    "Timeless", "Retro", "Bohemian", "Scandinavian", "Japanese", "Mediterranean", "Farmhouse", "Mid-Century", "Contemporary",
    "Luxe", "Quiet", "Silent", "Fast", "Precision", "Heated", "Cooling", "Scented", "Unscented", "Gentle", "Nourishing",
  ]

  static let colors = [
    "Black", "White", "Ivory", "Charcoal", "Graphite", "Slate", "Silver", "Gold", "Copper", "Bronze", "Navy", "Cobalt",
    "Teal", "Turquoise", "Sage", "Olive", "Forest Green", "Mint", "Emerald", "Burgundy", "Crimson", "Scarlet", "Coral",
    "Blush", "Rose", "Lavender", "Plum", "Mustard", "Amber", "Saffron", "Sand", "Beige", "Taupe", "Walnut Brown",
    "Espresso", "Caramel", "Terracotta", "Sky Blue", "Midnight", "Pearl",
  ]

  static let apparelSizes = ["XS", "S", "M", "L", "XL", "XXL"]
  static let shoeSizes = ["5", "6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12", "13"]
  static let generalSizes = ["Small", "Medium", "Large", "Extra Large"]

  /// Sentences about any product; `{material}` and `{color}` are filled in.
  static let phrases = [
    "Designed for everyday use and built to last.",
    "Crafted from {material} with a {color} finish.",
    "Backed by a two-year warranty and friendly support.",
    "Ships in recyclable, plastic-free packaging.",
    "A thoughtful gift for birthdays, holidays and housewarmings.",
    "Easy to clean: wipe with a damp cloth.",
    "Machine washable on a gentle cycle.",
    "Tested in our workshop for durability and comfort.",
    "Pairs well with the rest of the collection.",
    "Lightweight enough to take anywhere, sturdy enough for daily use.",
    "Each piece is inspected by hand before it leaves the warehouse.",
    "The {color} colorway is new this season.",
    "Responsibly sourced {material}, certified by an independent auditor.",
    "Compact footprint that fits small apartments and dorm rooms.",
    "Energy efficient with an automatic standby mode.",
    "Assembles in minutes with the included tools.",
    "Water-resistant coating protects against spills and splashes.",
    "Soft-touch grip reduces fatigue during long sessions.",
    "Made in a family-owned factory with fair labor practices.",
    "Fits standard accessories and replacement parts.",
    "Breathable construction keeps you cool in summer and warm in winter.",
    "Limited edition: restocked in small batches.",
    "Customers love the generous size and solid feel.",
    "Reinforced stitching and corners for extra strength.",
    "Dishwasher safe and oven safe up to 260 degrees.",
    "Includes a travel pouch and a quick start guide.",
    "Low noise operation, ideal for bedrooms and offices.",
    "Non-slip base keeps it steady on any surface.",
    "Hypoallergenic and free of parabens and sulfates.",
    "Balanced weight for precise, comfortable handling.",
  ]

  static let firstNames = [
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sophia", "Lucas", "Isabella", "Elijah", "Mia", "James", "Amelia",
    "Benjamin", "Harper", "Leo", "Evelyn", "Henry", "Aria", "Theo", "Chloe", "Arjun", "Priya", "Kenji", "Yuki", "Omar",
    "Fatima", "Lars", "Ingrid", "Diego", "Lucia", "Tomasz", "Zofia", "Kwame", "Amara", "Chen", "Mei", "Rafael", "Nadia",
    "Felix",
  ]

  static let lastNames = [
    "Thompson", "Garcia", "Nguyen", "Patel", "Kim", "Okafor", "Schmidt", "Rossi", "Dubois", "Silva", "Kowalski", "Jensen",
    "Haddad", "Tanaka", "Murphy", "O'Brien", "Fernandez", "Novak", "Lindqvist", "Mensah", "Cohen", "Ivanova", "Moreau",
    "Yamamoto", "Santos", "Bauer", "Russo", "Andersen", "Walsh", "Reyes",
  ]

  static let shopPrefixes = [
    "Harbor", "Summit", "Meadow", "Cedar", "Lantern", "Copper", "Juniper", "Bluebird", "Riverside", "Foxglove", "Ironwood",
    "Sunny Side", "Old Town", "Wildflower", "Granite", "Saltmarsh", "Hillcrest", "Orchard", "Lakeshore", "Starling",
  ]

  static let shopSuffixes = [
    "Goods", "Supply", "Trading Co", "Outfitters", "Emporium", "Market", "Workshop", "Collective", "Mercantile", "House",
  ]

  static let regions = ["US", "GB", "DE", "FR", "CA", "AU", "NL", "SE", "JP", "IT", "ES", "IE"]

  /// Where the seed's warehouses are, in the order they are made.
  static let warehousePlaces: [(name: String, region: String)] = [
    ("Riverside", "US"), ("Thames Gateway", "GB"), ("Rhine Valley", "DE"), ("Lakeshore", "CA"), ("Harbour Point", "AU"),
    ("Loire", "FR"), ("Randstad", "NL"), ("Kanto", "JP"),
  ]
}
