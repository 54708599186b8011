/// A store-wide event id: strictly increasing, never reused. `0` means "before the first event".
public typealias EventID = UInt64
