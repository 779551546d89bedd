namespace Caprese.Cli.Commands;

/// <summary>Process exit codes; 1 is what System.CommandLine returns for bad arguments.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int BadArguments = 1;
    public const int BackendUnavailable = 2;
    public const int BadModel = 3;
    public const int OutOfMemory = 4;
    /// <summary>A built-in consistency check of the run failed (e.g. graph-replayed decode chose other tokens).</summary>
    public const int CheckFailed = 5;
    public const int Cancelled = 130;
}
