namespace Diffusion.Core.Graphs.SingleFile;

/// <summary>Which of the usual key prefixes (none, ComfyUI's <c>model.diffusion_model.</c>, …) a single file puts before a component's keys.</summary>
internal static class KeyPrefix
{
    /// <summary>The first of <paramref name="prefixes"/> under which <paramref name="file"/> has <paramref name="marker"/>, or null.</summary>
    public static string? Find(SafeTensorsWeightSource file, string marker, params string[] prefixes)
    {
        foreach (string prefix in prefixes)
        {
            if (file.Contains(prefix + marker))
                return prefix;
        }
        return null;
    }
}
