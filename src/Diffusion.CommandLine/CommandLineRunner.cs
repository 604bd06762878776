using System.CommandLine;

namespace Diffusion.CommandLine;

/// <summary>
/// The front ends' exit-code convention: parse errors are one line each and exit code 2, before any work runs; an error
/// the command did not expect (a bug) is one line and exit code 70, its stack trace only with <c>DIFFUSION_DEBUG=1</c>.
/// </summary>
public static class CommandLineRunner
{
    /// <summary>The exit code of a command line that does not parse.</summary>
    public const int BadCommandLine = 2;

    /// <summary>The exit code of an unexpected internal error (BSD's EX_SOFTWARE).</summary>
    public const int InternalError = 70;

    /// <summary>Parses <paramref name="args"/>; on errors prints them to standard error and returns 2, else invokes the command's action.</summary>
    public static int Run(RootCommand command, string[] args)
    {
        ArgumentNullException.ThrowIfNull(command);
        ParseResult result;
        try
        {
            result = command.Parse(args); // validators run here, so a bug in one is reported like a bug in an action
            if (result.Errors.Count == 0)
                return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"error: unexpected {ex.GetType().Name}: {ex.Message}");
            if (Environment.GetEnvironmentVariable("DIFFUSION_DEBUG") == "1")
                Console.Error.WriteLine(ex);
            else
                Console.Error.WriteLine("This is a bug; set DIFFUSION_DEBUG=1 to print its stack trace for a report.");
            return InternalError;
        }
        foreach (var error in result.Errors)
            Console.Error.WriteLine($"error: {error.Message}");
        Console.Error.WriteLine("Run with --help to see the options.");
        return BadCommandLine;
    }
}
