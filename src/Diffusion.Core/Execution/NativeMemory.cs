using System.Runtime.InteropServices;

namespace Diffusion.Core.Execution;

/// <summary>
/// Hands freed native heap memory back to the operating system after a session is released. glibc keeps freed
/// blocks in its arenas, so without this a released UNet's activations still count towards the process's resident
/// memory while the VAE runs, and the Sequential memory mode would not lower the peak. A no-op off glibc.
/// </summary>
internal static partial class NativeMemory
{
    private static bool s_unavailable = !OperatingSystem.IsLinux();

    /// <summary>Returns free heap pages to the OS (glibc <c>malloc_trim(0)</c>) where available.</summary>
    public static void Trim()
    {
        if (s_unavailable)
            return;
        try
        {
            _ = MallocTrim(0);
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            s_unavailable = true; // musl and other C libraries have no malloc_trim
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
