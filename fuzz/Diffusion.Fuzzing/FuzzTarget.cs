namespace Diffusion.Fuzzing;

/// <summary>
/// One parser of untrusted input: <see cref="Run"/> feeds it the bytes; <see cref="AllowedErrors"/> are the exception
/// types it may answer with (typed errors that name the culprit). Any other exception, a crash or a hang is a finding.
/// </summary>
internal sealed record FuzzTarget(string Name, string Description, Type[] AllowedErrors, Action<byte[]> Run)
{
    /// <summary>Runs one input; returns null when the target ended as promised, else the unexpected exception.</summary>
    public Exception? Check(byte[] input)
    {
        try
        {
            Run(input);
            return null;
        }
        catch (Exception error) when (IsAllowed(error))
        {
            return null;
        }
        catch (Exception error)
        {
            return error;
        }
    }

    private bool IsAllowed(Exception error)
    {
        foreach (Type type in AllowedErrors)
        {
            if (type.IsInstanceOfType(error))
                return true;
        }
        return false;
    }
}
