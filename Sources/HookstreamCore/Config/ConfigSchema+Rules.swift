import Yams

extension ConfigSchema {
    /// `rules:`, in order.
    ///
    /// ```yaml
    /// rules:
    ///   - name: failed-deploys
    ///     source: github
    ///     when: { header.x-github-event: deployment_status, body.deployment_status.state: { in: [failure, error] } }
    ///     allow_topics: ["deploys/**"]
    ///     continue: true            # later rules get the message too
    ///     publish:                  # one event, or a list of them
    ///       topic: "deploys/{{ body.repository.name | slug }}"
    ///       event: deploy-failed
    ///       data: { repo: "{{ body.repository.full_name }}" }
    /// ```
    func readRules(_ node: Node, into config: inout Configuration) {
        guard case .sequence(let seq) = node else {
            if !ConfigReader.isNull(node) { reader.error(at: node, "rules must be a list, found \(reader.kind(of: node))") }
            return
        }
        var seen: [String: Node] = [:]
        for (i, element) in seq.enumerated() {
            let what = "rules[\(i)]"
            guard let rm = reader.mapping(element, what) else { continue }
            var name: String?
            var source: String?
            var sourceNode: Node?
            var condition: RuleCondition?
            var allowed: TopicFilter?
            var allowedNode: Node?
            var events: [EventTemplate]?
            var continues = false
            var paths: [(ValuePath, Node)] = []
            for (k, _, v) in reader.entries(rm, allowed: ["name", "source", "when", "allow_topics", "continue", "publish"], in: what) {
                switch k {
                case "name":
                    name = reader.string(v, "\(what).name")
                    if let n = name {
                        if let first = seen[n] {
                            let line = first.mark.map { " (first defined at line \($0.line))" } ?? ""
                            reader.error(at: v, "duplicate rule name '\(n)'\(line)")
                        } else {
                            seen[n] = v
                        }
                    }
                case "source":
                    source = reader.string(v, "\(what).source")
                    sourceNode = v
                case "when": condition = readCondition(v, "\(what).when", paths: &paths)
                case "allow_topics":
                    allowed = TopicFilter(readPatterns(v, "\(what).allow_topics"))
                    allowedNode = v
                case "continue": continues = reader.bool(v, "\(what).continue") ?? false
                case "publish": events = readPublishList(v, "\(what).publish", paths: &paths)
                default: break
                }
            }
            let label = name.map { "rule '\($0)'" } ?? what
            if rm["name"] == nil { reader.error(at: element, "\(what) needs a name") }
            if rm["source"] == nil { reader.error(at: element, "\(label) needs a source") }
            if rm["publish"] == nil { reader.error(at: element, "\(label) needs a publish: { topic: ... }") }
            if let source, config.sources[source] == nil {
                let known = config.sources.keys.sorted().joined(separator: ", ")
                reader.error(at: sourceNode, "\(label) names source '\(source)', which is not declared under sources (declared: \(known.isEmpty ? "none" : known))")
            }
            if let source {
                for (path, pathNode) in paths { reader.pathUses.append((source, path, pathNode)) }
            }
            if let allowed, let events {
                for event in events where !ConfigSchema.canPublish(event.topic, within: allowed) {
                    reader.error(
                        at: allowedNode,
                        "\(label) publishes to '\(event.topic)', which allow_topics (\(allowed.patterns.map(\.description).joined(separator: ", "))) never allows")
                }
            }
            if let name, let source, let events {
                config.rules.append(
                    Rule(name: name, source: source, condition: condition, events: events, allowedTopics: allowed, continues: continues))
            }
        }
    }

    // MARK: Conditions

    /// Operators a path's test may use.
    static let operators = ["equals", "in", "regex", "exists", "prefix", "suffix", "contains"] + ValueTest.Comparison.allCases.map(\.rawValue)

    /// A `when`: a mapping of paths to tests (all must hold) with `all`, `any` and `not` as keys, or a list of them.
    func readCondition(_ node: Node, _ what: String, paths: inout [(ValuePath, Node)]) -> RuleCondition? {
        // An empty list or mapping would hold for every message (an empty `all`), or never under `not`.
        switch node {
        case .sequence(let list) where list.isEmpty:
            reader.error(at: node, "\(what) is an empty list: write a condition, or remove it")
            return nil
        case .mapping(let m) where m.count == 0:
            reader.error(at: node, "\(what) is empty: write a condition, or remove it")
            return nil
        default: break
        }
        switch node {
        case .sequence(let list):
            var conditions: [RuleCondition] = []
            for (i, element) in list.enumerated() {
                if ConfigReader.isNull(element) {
                    reader.error(at: element, "\(what)[\(i)] is empty: write a condition, or remove the entry")
                    continue
                }
                if let c = readCondition(element, "\(what)[\(i)]", paths: &paths) { conditions.append(c) }
            }
            return .all(conditions)
        case .mapping(let m):
            var conditions: [RuleCondition] = []
            for (key, keyNode, value) in reader.entries(m, allowed: nil, in: what) {
                switch key {
                case "all", "any":
                    guard case .sequence(let list) = value else {
                        reader.error(at: value, "\(what).\(key) must be a list of conditions")
                        continue
                    }
                    if list.isEmpty {
                        reader.error(at: value, "\(what).\(key) is an empty list: write a condition, or remove it")
                        continue
                    }
                    var members: [RuleCondition] = []
                    for (i, element) in list.enumerated() {
                        if ConfigReader.isNull(element) {
                            reader.error(at: element, "\(what).\(key)[\(i)] is empty: write a condition, or remove the entry")
                            continue
                        }
                        if let c = readCondition(element, "\(what).\(key)[\(i)]", paths: &paths) { members.append(c) }
                    }
                    conditions.append(key == "all" ? .all(members) : .any(members))
                case "not":
                    // An empty `not` would be dropped, and the rule would take every message.
                    if ConfigReader.isNull(value) {
                        reader.error(at: value, "\(what).not is empty: write the condition that must not hold")
                        continue
                    }
                    if let c = readCondition(value, "\(what).not", paths: &paths) { conditions.append(.not(c)) }
                default:
                    let path: ValuePath
                    do {
                        path = try ValuePath(key)
                    } catch {
                        reader.error(at: keyNode, "\(what): \(error)")
                        continue
                    }
                    paths.append((path, keyNode))
                    conditions.append(contentsOf: readTests(value, at: path, "\(what).\(key)"))
                }
            }
            return conditions.count == 1 ? conditions[0] : .all(conditions)
        default:
            if ConfigReader.isNull(node) { return nil }
            reader.error(at: node, "\(what) must be a mapping of paths to values (body.action: opened), or a list of them")
            return nil
        }
    }

    /// What follows a path: a value (equals), a list (one of), or a mapping of operators (all must hold).
    private func readTests(_ node: Node, at path: ValuePath, _ what: String) -> [RuleCondition] {
        switch node {
        case .scalar:
            if ConfigReader.isNull(node) {
                reader.error(at: node, "\(what) has no value: write { exists: false } for a value that must be absent")
                return []
            }
            return reader.string(node, what).map { [.test(path, .equals($0))] } ?? []
        case .sequence:
            guard let list = reader.stringList(node, what) else { return [] }
            return [.test(path, .oneOf(list.map(\.0)))]
        case .mapping(let m):
            var tests: [RuleCondition] = []
            for (op, _, v) in reader.entries(m, allowed: ConfigSchema.operators, in: what) {
                let label = "\(what).\(op)"
                switch op {
                case "equals":
                    if let text = reader.string(v, label) { tests.append(.test(path, .equals(text))) }
                case "in":
                    if let list = reader.stringList(v, label) { tests.append(.test(path, .oneOf(list.map(\.0)))) }
                case "exists":
                    if let b = reader.bool(v, label) { tests.append(.test(path, .exists(b))) }
                case "regex":
                    guard let pattern = reader.string(v, label) else { continue }
                    do {
                        tests.append(.test(path, .regex(try CompiledRegex(pattern))))
                    } catch {
                        reader.error(at: v, "\(label): \(error)")
                    }
                case "prefix": if let text = reader.string(v, label) { tests.append(.test(path, .prefix(text))) }
                case "suffix": if let text = reader.string(v, label) { tests.append(.test(path, .suffix(text))) }
                case "contains": if let text = reader.string(v, label) { tests.append(.test(path, .contains(text))) }
                default:
                    guard let comparison = ValueTest.Comparison(rawValue: op) else { continue }
                    guard case .scalar(let s) = v, let bound = Double(s.string), bound.isFinite else {
                        reader.error(at: v, "\(label) must be a number")
                        continue
                    }
                    if let integer = Int64(s.string) {
                        tests.append(.test(path, .compareInteger(comparison, integer)))
                    } else {
                        tests.append(.test(path, .compare(comparison, bound)))
                    }
                }
            }
            if m.count == 0 { reader.error(at: node, "\(what) names no test (use one of: \(ConfigSchema.operators.joined(separator: ", ")))") }
            return tests
        case .alias:
            reader.error(at: node, "aliases are not supported in \(what)")
            return []
        }
    }

    // MARK: Publishing

    /// `publish:`: one event, or a list of them.
    private func readPublishList(_ node: Node, _ what: String, paths: inout [(ValuePath, Node)]) -> [EventTemplate]? {
        guard case .sequence(let list) = node else { return readPublish(node, what, paths: &paths).map { [$0] } }
        guard !list.isEmpty else {
            reader.error(at: node, "\(what) must name at least one event")
            return nil
        }
        var events: [EventTemplate] = []
        for (i, element) in list.enumerated() {
            guard let event = readPublish(element, "\(what)[\(i)]", paths: &paths) else { return nil }
            events.append(event)
        }
        return events
    }

    private func readPublish(_ node: Node, _ what: String, paths: inout [(ValuePath, Node)]) -> EventTemplate? {
        guard let m = reader.mapping(node, what) else { return nil }
        var topic: Template?
        var type: Template? = try? Template("message")
        var data: DataTemplate? = (try? Template("{{ body }}")).map(DataTemplate.template)
        var dataNode: Node?
        for (k, _, v) in reader.entries(m, allowed: ["topic", "event", "data"], in: what) {
            switch k {
            case "topic":
                topic = readTemplate(v, "\(what).topic", paths: &paths)
                if let t = topic { checkTopicTemplate(t, at: v, what: "\(what).topic") }
            case "event":
                type = readTemplate(v, "\(what).event", paths: &paths)
                if let type { checkEventTemplate(type, at: v, what: "\(what).event") }
            case "data":
                data = readDataTemplate(v, "\(what).data", paths: &paths)
                dataNode = v
            default: break
            }
        }
        if m["topic"] == nil { reader.error(at: node, "\(what) needs a topic") }
        // The default data, `{{ body }}`, reads the body.
        if dataNode == nil, let body = try? ValuePath("body") { paths.append((body, node)) }
        guard let topic, let type, let data else { return nil }
        return EventTemplate(topic: topic, type: type, data: data)
    }

    private func readTemplate(_ node: Node, _ what: String, paths: inout [(ValuePath, Node)]) -> Template? {
        guard let text = reader.string(node, what) else { return nil }
        do {
            let template = try Template(text)
            for path in template.paths { paths.append((path, node)) }
            return template
        } catch {
            reader.error(at: node, "\(what): \(error.message)")
            return nil
        }
    }

    /// The literal parts of a topic template must be usable in a topic.
    private func checkTopicTemplate(_ template: Template, at node: Node, what: String) {
        if template.isLiteral, let problem = Topic.validationError(template.description) {
            reader.error(at: node, "\(what): \(problem)")
            return
        }
        for part in template.parts {
            guard case .literal(let text) = part else { continue }
            if let lookalike = Template.lookalikePlaceholder(in: text) {
                return reader.error(at: node, "\(what): '\(lookalike)' is no placeholder: a placeholder is written {{ path }}, like {{ body.id }}")
            } else if text.contains("*") {
                return reader.error(at: node, "\(what): a topic cannot contain '*' (wildcards belong in subscriptions)")
            } else if text.contains("//") || (text.hasPrefix("/") && part == template.parts.first)
                || (text.hasSuffix("/") && part == template.parts.last)
            {
                return reader.error(at: node, "\(what): a topic cannot have an empty segment")
            } else if text.unicodeScalars.contains(where: { $0.properties.isWhitespace }) {
                return reader.error(at: node, "\(what): a topic cannot contain whitespace")
            }
        }
        // A placeholder beside literal text renders one segment part, so the template's literal text must make a
        // valid topic whatever it holds (no '..' segment, no control character): else every message would fail.
        guard template.singleExpression == nil else { return }
        let sample = template.parts.map { part in
            if case .literal(let text) = part { text } else { "x" }
        }.joined()
        if let problem = Topic.validationError(sample) {
            reader.error(at: node, "\(what): every topic it renders is refused: \(problem)")
        }
    }

    /// An event type's literal text must be usable: a type under the server's own prefix would be refused for
    /// every message.
    private func checkEventTemplate(_ template: Template, at node: Node, what: String) {
        var literalStart = ""
        for part in template.parts {
            guard case .literal(let text) = part else { break }
            literalStart += text
        }
        if template.isLiteral, let problem = EventType.validationError(literalStart) {
            reader.error(at: node, "\(what): \(problem)")
        } else if literalStart.hasPrefix(EventType.reservedPrefix) {
            reader.error(
                at: node, "\(what): event type '\(template)' starts with '\(EventType.reservedPrefix)', which is kept for the server's own events")
        }
    }

    /// Whether some topic that `template` renders is in `allowed`; a template that is one placeholder may render
    /// any topic.
    static func canPublish(_ template: Template, within allowed: TopicFilter) -> Bool {
        if template.singleExpression != nil { return true }
        // Each segment's text, or nil where a placeholder makes it whatever one segment the message gives.
        var segments: [Substring?] = []
        var current = ""
        var rendered = false
        for part in template.parts {
            switch part {
            case .literal(let text):
                let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
                current += pieces[0]
                for piece in pieces.dropFirst() {
                    segments.append(rendered ? nil : Substring(Topic.canonical(current)))
                    current = String(piece)
                    rendered = false
                }
            case .expression:
                rendered = true
            }
        }
        segments.append(rendered ? nil : Substring(Topic.canonical(current)))
        return allowed.patterns.contains { pattern in
            var i = 0
            for segment in pattern.segments {
                switch segment {
                case .rest: return true
                case .one: guard i < segments.count else { return false }
                case .literal(let literal):
                    guard i < segments.count, segments[i] == nil || segments[i] == literal else { return false }
                }
                i += 1
            }
            return i == segments.count
        }
    }

    private func readDataTemplate(_ node: Node, _ what: String, paths: inout [(ValuePath, Node)]) -> DataTemplate? {
        switch node {
        case .scalar(let s):
            if ConfigReader.isNull(node) { return .literal(.null) }
            if s.style == .plain, let value = try? JSONParser.parse(s.string) {
                if case .string = value {} else { return .literal(value) }
            }
            return readTemplate(node, what, paths: &paths).map(DataTemplate.template)
        case .sequence(let seq):
            var elements: [DataTemplate] = []
            for (i, e) in seq.enumerated() {
                guard let t = readDataTemplate(e, "\(what)[\(i)]", paths: &paths) else { return nil }
                elements.append(t)
            }
            return .array(elements)
        case .mapping(let m):
            var members: [(key: String, value: DataTemplate)] = []
            for (k, _, v) in reader.entries(m, allowed: nil, in: what) {
                guard let t = readDataTemplate(v, "\(what).\(k)", paths: &paths) else { return nil }
                members.append((k, t))
            }
            return .object(members)
        case .alias:
            reader.error(at: node, "aliases are not supported in \(what)")
            return nil
        }
    }
}
