public import CommerceAPI
import Messages
public import RPC

extension CommerceV1.InventoryService.Client {
  /// Whether InventoryService knows the warehouse `id`, read page by page from ListWarehouses
  /// (for the services that ship from or receive into a warehouse a caller names).
  public func knowsWarehouse(_ id: String, options: CallOptions) async throws -> Bool {
    var token = ""
    repeat {
      let page = try await listWarehouses(
        .with {
          $0.pageSize = 500
          $0.pageToken = token
        }, options: options)
      if page.warehouses.contains(where: { $0.warehouseId == id }) { return true }
      token = page.nextPageToken
    } while !token.isEmpty
    return false
  }
}
