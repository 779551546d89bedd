namespace Caprese.Models;

/// <summary>
/// An <see cref="IProgress{T}"/> that runs its action on the reporting thread, in order. <see cref="Progress{T}"/> posts
/// each report to the thread pool, which reorders progress bars and loses reports a caller reads right after the call.
/// </summary>
public sealed class SynchronousProgress<T>(Action<T> action) : IProgress<T>
{
    public void Report(T value) => action(value);
}
