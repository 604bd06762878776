using System.CommandLine;

namespace Diffusion.CommandLine.Tests;

/// <summary>The exit-code convention: 0 done, 2 a command line that does not parse, 70 a bug (one line, no stack trace).</summary>
[Collection(nameof(CommandLineRunnerTests))] // swaps Console.Error
public sealed class CommandLineRunnerTests
{
    private static (int Code, string Error) Run(RootCommand command, params string[] args)
    {
        TextWriter original = Console.Error;
        using var error = new StringWriter();
        Console.SetError(error);
        try
        {
            return (CommandLineRunner.Run(command, args), error.ToString());
        }
        finally
        {
            Console.SetError(original);
        }
    }

    private static RootCommand Command(Action<System.CommandLine.Parsing.CommandResult>? validator = null, Func<int>? action = null)
    {
        var count = new Option<int>("--count");
        var command = new RootCommand { count };
        if (validator is not null)
            command.Validators.Add(validator);
        command.SetAction(_ => action?.Invoke() ?? 0);
        return command;
    }

    [Fact]
    public void A_command_line_that_does_not_parse_is_exit_code_2_with_one_line_per_error()
    {
        (int code, string error) = Run(Command(), "--count", "many");
        Assert.Equal(CommandLineRunner.BadCommandLine, code);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
        Assert.Contains("--help", error, StringComparison.Ordinal);
    }

    [Fact]
    public void An_exception_from_an_action_or_a_validator_is_a_one_line_bug_report_with_exit_code_70()
    {
        foreach (RootCommand command in new[]
        {
            Command(action: () => throw new InvalidOperationException("action broke")),
            Command(validator: _ => throw new InvalidOperationException("validator broke")),
        })
        {
            (int code, string error) = Run(command, "--count", "1");
            Assert.Equal(CommandLineRunner.InternalError, code);
            Assert.StartsWith("error: unexpected InvalidOperationException: ", error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        }
    }
}
