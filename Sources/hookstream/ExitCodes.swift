/// Exit statuses, from sysexits(3) where one fits: systemd's `RestartPreventExitStatus=78` keeps a unit with a
/// broken config from restarting in a loop.
enum ExitCodes {
    /// EX_CONFIG: the configuration is invalid.
    static let configuration: Int32 = 78
    /// EX_SOFTWARE: the daemon failed while running (a port in use, say).
    static let failure: Int32 = 70
}
