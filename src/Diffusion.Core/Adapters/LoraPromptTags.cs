using System.Globalization;
using System.Text.RegularExpressions;

namespace Diffusion.Core.Adapters;

/// <summary>
/// The A1111 prompt syntax for LoRAs, <c>&lt;lora:name:0.8&gt;</c>: extracts the tags and returns the prompt
/// without them, and resolves a tag's name to <c>name.safetensors</c> in a user-configured folder.
/// </summary>
/// <remarks>
/// Mirrors AUTOMATIC1111's <c>modules/extra_networks.py</c>: tags match <c>&lt;(\w+):([^&gt;]+)&gt;</c>, the
/// arguments split on <c>:</c>, the first is the name, the second the multiplier (1 when absent; further
/// arguments, A1111's separate UNet multiplier, are ignored), and each tag is replaced by the empty string
/// (surrounding spaces and commas stay, as there). Only <c>lora</c> and <c>lyco</c> tags are taken; other
/// extra-network tags are left in the prompt.
/// </remarks>
public static partial class LoraPromptTags
{
    /// <summary>Removes the LoRA tags from <paramref name="prompt"/>.</summary>
    /// <param name="prompt">The prompt as the user wrote it.</param>
    /// <param name="tags">Each tag's name and multiplier, in prompt order (a name may repeat).</param>
    /// <returns>The prompt with the tags removed.</returns>
    /// <exception cref="InvalidOptionException">A tag has an empty name or a multiplier that is not a finite number.</exception>
    public static string Extract(string prompt, out IReadOnlyList<(string Name, float Weight)> tags)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var found = new List<(string Name, float Weight)>();
        string result = TagPattern().Replace(prompt, match =>
        {
            string kind = match.Groups[1].Value;
            if (kind != "lora" && kind != "lyco")
                return match.Value;
            string[] arguments = match.Groups[2].Value.Split(':');
            string name = arguments[0].Trim();
            if (name.Length == 0)
                throw new InvalidOptionException("prompt", $"LoRA tag '{match.Value}' has no name.");
            float weight = 1f;
            if (arguments.Length > 1
                && (!float.TryParse(arguments[1].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out weight) || !float.IsFinite(weight)))
                throw new InvalidOptionException("prompt", $"LoRA tag '{match.Value}': multiplier '{arguments[1]}' is not a number.");
            found.Add((name, weight));
            return string.Empty;
        });
        tags = found;
        return result;
    }

    /// <summary>
    /// The file a tag names: <c>&lt;folder&gt;/&lt;name&gt;.safetensors</c>. Names are file names only (no folders,
    /// no <c>..</c>), so a prompt cannot reach outside <paramref name="loraFolder"/>.
    /// </summary>
    /// <exception cref="InvalidOptionException">The name contains a path separator or is <c>.</c>/<c>..</c>.</exception>
    /// <exception cref="WeightFileException">No such file in the folder.</exception>
    public static string ResolvePath(string loraFolder, string name)
    {
        ArgumentNullException.ThrowIfNull(loraFolder);
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name is "." or ".." || name.IndexOfAny(['/', '\\', '\0']) >= 0 || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            throw new InvalidOptionException("prompt", $"LoRA name '{name}' must be a plain file name inside the LoRA folder.");
        string path = Path.Combine(loraFolder, name + ".safetensors");
        if (!File.Exists(path))
            throw new WeightFileException(path, null, $"no LoRA named '{name}' in {loraFolder} (expected {name}.safetensors there).");
        return path;
    }

    [GeneratedRegex(@"<(\w+):([^>]+)>", RegexOptions.CultureInvariant)]
    private static partial Regex TagPattern();
}
