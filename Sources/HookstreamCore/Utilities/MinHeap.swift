/// A binary min-heap: the smallest element first. Retention uses it to take the oldest events across many topics in
/// id order (a k-way merge), without sorting every event it keeps.
struct MinHeap<Element> {
    private var elements: [Element] = []
    private let areInIncreasingOrder: (Element, Element) -> Bool

    /// A heap of `elements`, built in linear time.
    init(_ elements: [Element], by areInIncreasingOrder: @escaping (Element, Element) -> Bool) {
        self.elements = elements
        self.areInIncreasingOrder = areInIncreasingOrder
        var index = elements.count / 2
        while index > 0 {
            index -= 1
            siftDown(index)
        }
    }

    var isEmpty: Bool { elements.isEmpty }

    /// The smallest element, left in.
    var first: Element? { elements.first }

    mutating func insert(_ element: Element) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard areInIncreasingOrder(elements[child], elements[parent]) else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    /// Takes the smallest element out.
    mutating func popMin() -> Element? {
        guard !elements.isEmpty else { return nil }
        elements.swapAt(0, elements.count - 1)
        let smallest = elements.removeLast()
        siftDown(0)
        return smallest
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < elements.count else { return }
            var smallest = left
            if left + 1 < elements.count, areInIncreasingOrder(elements[left + 1], elements[left]) { smallest = left + 1 }
            guard areInIncreasingOrder(elements[smallest], elements[parent]) else { return }
            elements.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
