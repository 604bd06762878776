using Diffusion.Fuzzing;
using SharpFuzz;

// Usage:
//   Diffusion.Fuzzing TARGET              run under afl-fuzz (SharpFuzz's out-of-process protocol), stdin/shared memory
//   Diffusion.Fuzzing TARGET --replay DIR  run every file of DIR in process and report the unexpected exceptions
//   Diffusion.Fuzzing --list               the targets and the exception types each may throw
if (args.Length == 1 && args[0] == "--list")
{
    foreach (FuzzTarget t in FuzzTargets.All)
        Console.WriteLine($"{t.Name,-17} may throw: {(t.AllowedErrors.Length == 0 ? "nothing" : string.Join(", ", t.AllowedErrors.Select(e => e.Name)))}  — {t.Description}");
    return 0;
}
FuzzTarget? target = args.Length >= 1 ? FuzzTargets.Find(args[0]) : null;
if (target is null)
{
    Console.Error.WriteLine($"usage: Diffusion.Fuzzing <{string.Join("|", FuzzTargets.All.Select(t => t.Name))}> [--replay DIR] | --list");
    return 2;
}

if (args.Length == 3 && args[1] == "--replay")
{
    int failures = 0, count = 0;
    // AFL's findings folders hold a README.txt beside the inputs.
    foreach (string file in Directory.EnumerateFiles(args[2], "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != "README.txt").Order(StringComparer.Ordinal))
    {
        count++;
        if (target.Check(File.ReadAllBytes(file)) is { } error)
        {
            failures++;
            string where = string.Join(" < ", (error.StackTrace ?? string.Empty).Split('\n').Take(3).Select(f => f.Trim()));
            Console.WriteLine($"{file}: {error.GetType().FullName}: {error.Message} {where}");
        }
    }
    Console.WriteLine($"{target.Name}: {count} inputs, {failures} unexpected exceptions");
    return failures == 0 ? 0 : 1;
}

// Under afl-fuzz: an unexpected exception escapes Run and SharpFuzz reports it to AFL as a crash.
Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    byte[] input = buffer.ToArray();
    if (target.Check(input) is { } error)
        throw new InvalidOperationException($"{target.Name}: unexpected {error.GetType().FullName}", error);
});
return 0;
