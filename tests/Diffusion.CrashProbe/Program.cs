using Diffusion.Core;
using Diffusion.CrashProbe;

// Exit codes: 0 = the scenario ended as the library promises (a result or a typed error, printed); 2 = bad arguments;
// 3 = an exception the library should not have thrown (printed with its type). A crash shows as a signal (134, 139).
if (args.Length == 0 || !Scenarios.All.TryGetValue(args[0], out Func<string[], string>? scenario))
{
    Console.Error.WriteLine($"usage: Diffusion.CrashProbe <{string.Join("|", Scenarios.All.Keys)}> [arguments]");
    return 2;
}

try
{
    Console.WriteLine(scenario(args[1..]));
    return 0;
}
catch (DiffusionException error)
{
    Console.WriteLine($"{error.GetType().Name}: {error.Message}");
    return 0;
}
catch (Exception error)
{
    Console.WriteLine($"unexpected {error.GetType().FullName}: {error.Message}");
    return 3;
}
