import ArgumentParser

/// The `hookstream` command: webhooks and Unix-socket messages in, authenticated Server-Sent Event streams out.
@main
struct HookstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hookstream",
        abstract: "Route webhooks and local messages to authenticated Server-Sent Event streams.",
        subcommands: [ServeCommand.self, CheckCommand.self, RouteCommand.self, PublishCommand.self, SubscribeCommand.self, TokenCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
