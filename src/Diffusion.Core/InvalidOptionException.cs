namespace Diffusion.Core;

/// <summary>
/// An option (a generation setting, a scheduler configuration value, a session setting) has a value
/// the library cannot use. <see cref="OptionName"/> names the option as the user wrote it.
/// </summary>
public sealed class InvalidOptionException : DiffusionException
{
    /// <summary>Creates the exception for <paramref name="optionName"/>.</summary>
    public InvalidOptionException(string optionName, string message) : base($"{optionName}: {message}")
        => OptionName = optionName;

    /// <summary>Creates the exception for <paramref name="optionName"/> with the error that caused it.</summary>
    public InvalidOptionException(string optionName, string message, Exception innerException) : base($"{optionName}: {message}", innerException)
        => OptionName = optionName;

    /// <summary>The option at fault, e.g. <c>Width</c> or <c>scheduler_config.json: beta_schedule</c>.</summary>
    public string OptionName { get; }
}
