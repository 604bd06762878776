using Diffusion.Core.Weights;

namespace Diffusion.Core.Tests.Weights;

public class SafeTensorsFileTests
{
    [Fact]
    public void ReadsF32F16AndBF16TensorsAsFloat32WithMetadata()
    {
        // 1.5 is 0x3E00 in float16 and 0x3FC0 in bfloat16; -2 is 0xC000 in both; 0.1 (F32) stays 0.1f.
        byte[] data = [.. SafeTensorsTestFile.Floats(0.1f, 3f), 0x00, 0x3E, 0x00, 0xC0, 0xC0, 0x3F, 0x00, 0xC0];
        string path = SafeTensorsTestFile.Write("mixed.safetensors",
            """{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[2,1],"data_offsets":[8,12]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]}}""",
            data);

        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(["a", "h", "b"], file.Tensors.Select(t => t.Name));
        Assert.Equal([0.1f, 3f], file.ReadAsFloat32("a"));
        Assert.Equal([1.5f, -2f], file.ReadAsFloat32("h"));
        Assert.Equal([1.5f, -2f], file.ReadAsFloat32("b"));
        Assert.True(file.TryGetTensor("h", out SafeTensorInfo? h));
        Assert.Equal([2L, 1L], h.Shape);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsATruncatedHeader()
    {
        string path = SafeTensorsTestFile.Write("truncated.safetensors", """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""",
            SafeTensorsTestFile.Floats(1f), declaredHeaderLength: 4096);

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Equal(path, error.FilePath);
        Assert.Contains("truncated header", error.Message);
    }

    [Fact]
    public void FileShorterThanTheLengthFieldIsATruncatedHeader()
    {
        string path = SafeTensorsTestFile.WriteBytes("tiny.safetensors", [1, 2, 3]);

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("truncated header", error.Message);
    }

    [Fact]
    public void BytesThatAreNotASafetensorsHeaderAreRefused()
    {
        string path = SafeTensorsTestFile.WriteBytes("garbage.safetensors", [.. "GGUF\x03\0\0\0\0\0\0\0"u8, .. new byte[32]]);

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("not a safetensors file", error.Message);
    }

    [Fact]
    public void OffsetsPastTheEndNameTheKey()
    {
        string path = SafeTensorsTestFile.Write("past-end.safetensors",
            """{"ok":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[4],"data_offsets":[4,20]}}""",
            SafeTensorsTestFile.Floats(1f, 2f));

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Equal("w", error.Key);
        Assert.Contains("past the end", error.Message);
    }

    [Fact]
    public void UnknownDtypeNamesTheKey()
    {
        string path = SafeTensorsTestFile.Write("dtype.safetensors", """{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}}""", [0]);

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Equal("w", error.Key);
        Assert.Contains("unknown dtype 'Q4'", error.Message);
    }

    [Fact]
    public void ByteSizeThatDisagreesWithTheShapeNamesTheKey()
    {
        string path = SafeTensorsTestFile.Write("size.safetensors", """{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""",
            SafeTensorsTestFile.Floats(1f, 2f));

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Equal("w", error.Key);
        Assert.Contains("shape/size mismatch", error.Message);
    }

    [Fact]
    public void OverlappingTensorsAreRefused()
    {
        string path = SafeTensorsTestFile.Write("overlap.safetensors",
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
            SafeTensorsTestFile.Floats(1f, 2f, 3f));

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Equal("b", error.Key);
        Assert.Contains("overlap", error.Message);
    }

    [Fact]
    public void ReadingAnIntegerTensorAsFloatNamesTheKey()
    {
        string path = SafeTensorsTestFile.Write("ints.safetensors", """{"ids":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}""", [1, 0, 0, 0]);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);

        var error = Assert.Throws<WeightFileException>(() => file.ReadAsFloat32("ids"));

        Assert.Equal("ids", error.Key);
    }

    [Theory]
    [InlineData("model.ckpt")]
    [InlineData("lora.pt")]
    [InlineData("pytorch_lora_weights.bin")]
    public void PickleCheckpointsAreRefusedByExtensionWithTheReason(string fileName)
    {
        string path = SafeTensorsTestFile.WriteBytes(fileName, [0x80, 0x02, 0x7D, 0x71, 0x00, 0x2E]);

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Equal(path, error.FilePath);
        Assert.Contains("executes code", error.Message);
        Assert.Contains(".safetensors", error.Message);
    }

    [Theory]
    [InlineData("missing-embedding.pt")]
    [InlineData("missing.ckpt")]
    [InlineData("missing.safetensors")]
    public void A_missing_file_is_reported_as_missing_whatever_its_extension(string fileName)
    {
        string path = Path.Combine(Path.GetTempPath(), "diffusion-no-such-dir-" + Guid.NewGuid().ToString("N"), fileName);

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("file not found", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("pickle", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0x80, 0x02, 0x7D, 0x71, 0x00, 0x28, 0x58, 0x05, 0x00, 0x00 })] // pickle protocol 2
    [InlineData(new byte[] { 0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0x08, 0x08, 0x00, 0x00 })] // torch >= 1.6 zip
    public void PickleContentRenamedToSafetensorsIsRefused(byte[] start)
    {
        string path = SafeTensorsTestFile.WriteBytes($"renamed-{start[0]:x2}.safetensors", [.. start, .. new byte[64]]);

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("pickle", error.Message);
    }

    [Fact]
    public void A_header_that_is_not_utf8_is_a_WeightFileException()
    {
        // Found by fuzzing: JsonDocument.Parse accepted the bytes and GetString later threw InvalidOperationException.
        byte[] header = [.. "{\"a\":{\"dtype\":\"F"u8, 0xC3, 0x28, .. "\",\"shape\":[1],\"data_offsets\":[0,4]}}"u8];
        byte[] file = [.. BitConverter.GetBytes((ulong)header.Length), .. header, 0, 0, 0, 0];
        string path = SafeTensorsTestFile.WriteBytes("not-utf8.safetensors", file);

        var error = Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(path));

        Assert.Contains("not valid UTF-8", error.Message);
    }

    [Theory]
    [MemberData(nameof(FuzzRegressions))]
    public void Inputs_the_fuzzer_found_give_a_WeightFileException(string file)
        => Assert.Throws<WeightFileException>(() => SafeTensorsFile.Open(file));

    public static TheoryData<string> FuzzRegressions() => new(FuzzCorpus.Regressions("safetensors").Concat(FuzzCorpus.Regressions("lora")));
}
