namespace Caprese.Cli.Training;

/// <summary>An IProgress that runs on the reporting thread: Progress&lt;T&gt; posts to the thread pool, which would
/// reorder progress-bar redraws.</summary>
internal sealed class SyncProgress<T>(Action<T> action) : IProgress<T>
{
    public void Report(T value) => action(value);
}
