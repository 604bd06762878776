using Diffusion.Core.Models;
using Diffusion.Core.Randomness;

namespace Diffusion.Core.Tests.Models;

/// <summary>
/// The VAE wrappers against tiny-sd's real TAESD VAE (shared/models/taesd/README.md: latent_sample in,
/// sample [batch,3,8h,8w] in [-1,1] out) and a generated Optimum-style encoder (latent_parameters).
/// </summary>
public sealed class VaeTests(LoadedModels models) : IClassFixture<LoadedModels>
{
    [Fact]
    public void DecoderContractIsDiscovered()
    {
        VaeDecoder decoder = Decoder();

        Assert.Equal("latent_sample", decoder.LatentInput.Name);
        Assert.Equal("sample", decoder.ImageOutput.Name);
        Assert.Equal(4, decoder.LatentChannels);
        Assert.Equal(3, decoder.ImageChannels);
        Assert.Equal(TensorElementKind.Float32, decoder.ElementKind);
    }

    [Fact]
    public void DecoderTurnsAstronautLatentsIntoAFiniteImageOfEightTimesTheSize()
    {
        // astronaut_lat.f32: TAESD encoder latents [1,4,64,64] of astronaut.png (unscaled, as the decoder
        // takes them). The central 32x32 latents (a 256x256 crop of the photo) keep the test quick.
        float[] full = ReferenceTensors.ReadFloats("astronaut_lat.f32");
        const int size = 32, offset = 16;
        float[] latents = new float[4 * size * size];
        for (int channel = 0; channel < 4; channel++)
            for (int row = 0; row < size; row++)
                full.AsSpan((channel * 64 + row + offset) * 64 + offset, size).CopyTo(latents.AsSpan((channel * size + row) * size));
        float[] image = new float[3 * 8 * size * 8 * size];

        Decoder().Decode(latents, 1, size, size, image);

        float min = float.MaxValue, max = float.MinValue;
        foreach (float value in image)
        {
            Assert.True(float.IsFinite(value));
            min = MathF.Min(min, value);
            max = MathF.Max(max, value);
        }
        // A real photo spans most of [-1, 1]; TAESD does not clamp, so allow a little overshoot.
        Assert.InRange(min, -1.5f, -0.5f);
        Assert.InRange(max, 0.5f, 1.5f);
    }

    [Fact]
    public void EncoderThenDecoderKeepTheImageShape()
    {
        VaeEncoder encoder = models.Get(ReferenceTensors.TinySd("vae_encoder/model.onnx"), p => VaeEncoder.Load(p));
        const int height = 48, width = 64;
        float[] image = new float[2 * 3 * height * width];
        for (int i = 0; i < image.Length; i++)
            image[i] = MathF.Sin(i * 0.01f);
        float[] latents = new float[2 * 4 * (height / 8) * (width / 8)];
        float[] decoded = new float[image.Length];

        encoder.Encode(image, 2, height, width, latents);
        Decoder().Decode(latents, 2, height / 8, width / 8, decoded);

        Assert.False(encoder.OutputsDistributionParameters);
        Assert.Equal(4, encoder.LatentChannels);
        Assert.Contains(latents, value => value != 0f);
        Assert.All(decoded, value => Assert.True(float.IsFinite(value)));
    }

    [Fact]
    public void LatentParametersEncoderReturnsTheMeanWithoutARandomSource()
    {
        // vae-encoder-parameters.onnx (tools/reference-data/models): mean channel c = 8x8 average of image channel c % 3.
        VaeEncoder encoder = ParametersEncoder();
        float[] image = UniformImage();
        float[] latents = new float[2 * 4 * 2 * 2];

        encoder.Encode(image, 2, 16, 16, latents);

        Assert.True(encoder.OutputsDistributionParameters);
        Assert.Equal(4, encoder.LatentChannels);
        for (int item = 0; item < 2; item++)
            for (int channel = 0; channel < 4; channel++)
                for (int pixel = 0; pixel < 4; pixel++)
                    Assert.Equal(ChannelValue(item, channel % 3), latents[(item * 4 + channel) * 4 + pixel], 1e-6f);
    }

    [Fact]
    public void LatentParametersEncoderSamplesMeanPlusStdTimesNoiseWithLogvarClamped()
    {
        // diffusers DiagonalGaussianDistribution: logvar clamped to [-30, 20], std = exp(0.5 logvar),
        // sample = mean + std * noise. The model's logvar is ln 4 (std 2) for channels 0-2 and 50 -> 20 (std e^10) for channel 3.
        VaeEncoder encoder = ParametersEncoder();
        float[] image = UniformImage();
        float[] latents = new float[2 * 4 * 2 * 2];
        var random = new CountingRandom();

        encoder.Encode(image, 2, 16, 16, latents, random);

        Assert.Equal(1, random.Calls); // one tensor of the latents' full shape
        for (int item = 0; item < 2; item++)
        {
            for (int channel = 0; channel < 4; channel++)
            {
                float std = channel < 3 ? 2f : MathF.Exp(10f);
                for (int pixel = 0; pixel < 4; pixel++)
                {
                    int index = (item * 4 + channel) * 4 + pixel;
                    float expected = ChannelValue(item, channel % 3) + std * CountingRandom.Noise(index);
                    Assert.Equal(expected, latents[index], MathF.Abs(expected) * 1e-5f + 1e-5f);
                }
            }
        }
    }

    [Fact]
    public void EncoderRejectsSizesThatAreNotMultiplesOfEight()
    {
        float[] image = new float[3 * 12 * 16];

        Assert.Throws<ArgumentException>(() => ParametersEncoder().Encode(image, 1, 12, 16, new float[4 * 2 * 2]));
    }

    [Fact]
    public void MisnamedDecoderIsAContractErrorNamingLatentSample()
    {
        string path = ReferenceTensors.TestModel("unet-misnamed-inputs.onnx");

        var error = Assert.Throws<ModelContractException>(() => VaeDecoder.Load(path));

        Assert.Equal("latent_sample", error.TensorName);
        Assert.Equal(path, error.ModelPath);
    }

    private VaeDecoder Decoder() => models.Get(ReferenceTensors.TinySd("vae_decoder/model.onnx"), p => VaeDecoder.Load(p));

    private VaeEncoder ParametersEncoder() => models.Get(ReferenceTensors.TestModel("vae-encoder-parameters.onnx"), p => VaeEncoder.Load(p));

    private static float ChannelValue(int item, int channel) => 0.1f * (item * 3 + channel) - 0.25f;

    private static float[] UniformImage()
    {
        float[] image = new float[2 * 3 * 16 * 16];
        for (int item = 0; item < 2; item++)
            for (int channel = 0; channel < 3; channel++)
                image.AsSpan((item * 3 + channel) * 256, 256).Fill(ChannelValue(item, channel));
        return image;
    }

    private sealed class CountingRandom : IRandomSource
    {
        public int Calls { get; private set; }

        public static float Noise(int index) => (index % 7 - 3) * 0.25f;

        public void NextStandardNormal(Span<float> destination)
        {
            Calls++;
            for (int i = 0; i < destination.Length; i++)
                destination[i] = Noise(i);
        }
    }
}
