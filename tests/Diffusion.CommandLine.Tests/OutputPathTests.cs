namespace Diffusion.CommandLine.Tests;

/// <summary>The output path is checked before any work: extension, folder, permission.</summary>
public sealed class OutputPathTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("diffusion-output-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void A_writable_path_passes_and_leaves_nothing_behind()
    {
        string path = Path.Combine(_folder, "sub", "image.png");
        Assert.Null(OutputPath.Check(path));
        Assert.Empty(Directory.GetFiles(Path.Combine(_folder, "sub")));
    }

    [Theory]
    [InlineData("image.gif", "unknown image extension '.gif'")]
    [InlineData("image", "unknown image extension ''")]
    public void An_unknown_extension_is_named(string name, string expected)
        => Assert.Contains(expected, OutputPath.Check(Path.Combine(_folder, name)), StringComparison.Ordinal);

    [Fact]
    public void A_folder_is_not_a_file()
    {
        string folder = Path.Combine(_folder, "out.png");
        Directory.CreateDirectory(folder);
        Assert.Contains("is a folder", OutputPath.Check(folder), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unwritable_folder_is_found_before_any_work()
    {
        string path = "/proc/diffusion-no-such-folder/image.png";
        Assert.Contains("cannot write in /proc/diffusion-no-such-folder", OutputPath.Check(path), StringComparison.Ordinal);
    }
}
