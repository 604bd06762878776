using System.CommandLine;

namespace Diffusion.CommandLine;

/// <summary>The front ends' exit-code convention: parse errors are one line each and exit code 2, before any work runs.</summary>
public static class CommandLineRunner
{
    /// <summary>The exit code of a command line that does not parse.</summary>
    public const int BadCommandLine = 2;

    /// <summary>Parses <paramref name="args"/>; on errors prints them to standard error and returns 2, else invokes the command's action.</summary>
    public static int Run(RootCommand command, string[] args)
    {
        ArgumentNullException.ThrowIfNull(command);
        ParseResult result = command.Parse(args);
        if (result.Errors.Count == 0)
            return result.Invoke();
        foreach (var error in result.Errors)
            Console.Error.WriteLine($"error: {error.Message}");
        Console.Error.WriteLine("Run with --help to see the options.");
        return BadCommandLine;
    }
}
