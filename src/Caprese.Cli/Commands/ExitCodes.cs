namespace Caprese.Cli.Commands;

/// <summary>Process exit codes; 1 is what System.CommandLine returns for bad arguments.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int BadArguments = 1;
    public const int BackendUnavailable = 2;
    public const int BadModel = 3;
    public const int OutOfMemory = 4;

    /// <summary>A built-in check of the run failed (a benchmark's check before timing, or graph-replayed decode
    /// choosing other tokens than eager decode): what it would report is not what it claims.</summary>
    public const int CheckFailed = 5;
    public const int Cancelled = 130;
}
