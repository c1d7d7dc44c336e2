//! `SeedBackend`: the few operations the seed model runs through our own kernels where a
//! backend has them, and through burn's generic ops everywhere else.
//!
//! The model is written once against this trait. burn's `flex` CPU backend gets
//! [`crate::conv3x3`] (2–4x faster than its own conv2d on the global branch's layers, see
//! BENCHMARKS.md); `Autodiff<B>` wires that kernel's backward passes into the graph; any other
//! backend (CUDA) keeps burn's convolution through the default methods.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{ActivationOps, ConvOptions, FloatTensor, IntTensor, ModuleOps};
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};
use rayon::prelude::*;

use crate::conv3x3::{self, Conv3x3Shape};
use crate::pool4;

fn same_padding() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

const POOL: [usize; 2] = [4, 4];

/// A backend the seed model runs on.
pub trait SeedBackend: Backend {
    /// `relu(conv(x, weight) + bias)` for a 3×3 convolution, stride 1, padding 1:
    /// `x [N, C, H, W]`, `weight [O, C, 3, 3]`, `bias [O]`.
    fn conv3x3_relu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(Self::conv2d(x, weight, Some(bias), same_padding()))
    }
    /// ∂L/∂x of the convolution given the gradient of its pre-activation output.
    fn conv3x3_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, same_padding())
    }
    /// ∂L/∂weight given the gradient of the pre-activation output.
    fn conv3x3_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, grad, same_padding())
    }
    /// ∂L/∂bias given the gradient of the pre-activation output.
    fn conv3x3_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d_bias_backward(x, bias, grad)
    }
    /// Inference: `max_pool4(conv3x3_relu(x, weight, bias))`, which a backend may fuse.
    fn conv3x3_relu_pool4(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::max_pool4(Self::conv3x3_relu(x, weight, bias))
    }
    /// `x · scale[c] + shift[c]` per channel of `x [N, C, H, W]` (batch-norm at inference).
    fn channel_affine(x: FloatTensor<Self>, scale: FloatTensor<Self>, shift: FloatTensor<Self>) -> FloatTensor<Self> {
        broadcast_channel_affine::<Self>(x, scale, shift)
    }
    /// 4×4 max-pool, stride 4, no padding (floor).
    fn max_pool4(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::max_pool2d(x, POOL, POOL, [0, 0], [1, 1], false)
    }
    /// [`SeedBackend::max_pool4`] and the argmax its backward needs.
    fn max_pool4_with_indices(x: FloatTensor<Self>) -> (FloatTensor<Self>, IntTensor<Self>) {
        let pooled = Self::max_pool2d_with_indices(x, POOL, POOL, [0, 0], [1, 1], false);
        (pooled.output, pooled.indices)
    }
    /// ∂L/∂x of the max-pool given ∂L/∂out and the forward's indices.
    fn max_pool4_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::max_pool2d_with_indices_backward(x, POOL, POOL, [0, 0], [1, 1], false, grad, indices).x_grad
    }
}

/// `x · scale[c] + shift[c]` with burn's broadcasting ops (any backend).
fn broadcast_channel_affine<B: Backend>(
    x: FloatTensor<B>,
    scale: FloatTensor<B>,
    shift: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = Shape::new([1, scale.shape()[0], 1, 1]);
    let scaled = B::float_mul(x, B::float_reshape(scale, shape.clone()));
    B::float_add(scaled, B::float_reshape(shift, shape))
}

/// Contiguous f32 values of a flex tensor, or `None` for another dtype.
fn f32_values(tensor: &FlexTensor) -> Option<FlexTensor> {
    (tensor.dtype() == DType::F32).then(|| tensor.to_contiguous())
}

fn flex_tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn shape_of(x: &FlexTensor, weight: &FlexTensor) -> Conv3x3Shape {
    let (xs, ws) = (x.shape(), weight.shape());
    Conv3x3Shape {
        batch: xs[0],
        channels_in: xs[1],
        channels_out: ws[0],
        height: xs[2],
        width: xs[3],
    }
}

/// Our 4×4 pool on a contiguous f32 flex tensor `[N, C, H, W]`.
fn flex_pool(x: &FlexTensor, with_indices: bool) -> (FlexTensor, FlexTensor) {
    let xs = x.shape();
    let (out, indices) = pool4::forward(xs[0] * xs[1], xs[2], xs[3], slice(x), with_indices);
    let shape = Shape::new([xs[0], xs[1], xs[2] / 4, xs[3] / 4]);
    let indices = FlexTensor::from_data(TensorData::new(
        indices,
        if with_indices { shape.clone() } else { Shape::new([0]) },
    ));
    (flex_tensor(out, shape), indices)
}

fn slice(tensor: &FlexTensor) -> &[f32] {
    tensor.as_slice::<f32>().expect("contiguous f32 tensor")
}

impl SeedBackend for Flex {
    fn conv3x3_relu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let (Some(xc), Some(wc), Some(bc)) = (f32_values(&x), f32_values(&weight), f32_values(&bias)) else {
            return Self::relu(Self::conv2d(x, weight, Some(bias), same_padding()));
        };
        let shape = shape_of(&xc, &wc);
        let out = conv3x3::forward(&shape, slice(&xc), slice(&wc), Some(slice(&bc)), true);
        flex_tensor(
            out,
            Shape::new([shape.batch, shape.channels_out, shape.height, shape.width]),
        )
    }

    fn conv3x3_relu_pool4(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (Some(xc), Some(wc), Some(bc)) = (f32_values(&x), f32_values(&weight), f32_values(&bias)) else {
            return Self::max_pool4(Self::conv3x3_relu(x, weight, bias));
        };
        let shape = shape_of(&xc, &wc);
        let out = conv3x3::forward_relu_pool4(&shape, slice(&xc), slice(&wc), slice(&bc));
        flex_tensor(
            out,
            Shape::new([shape.batch, shape.channels_out, shape.height / 4, shape.width / 4]),
        )
    }

    fn channel_affine(x: FloatTensor<Self>, scale: FloatTensor<Self>, shift: FloatTensor<Self>) -> FloatTensor<Self> {
        // flex broadcasts through a generic strided iterator (7% of inference at 192×128);
        // per channel this is one contiguous multiply-add.
        let (Some(xc), Some(sc), Some(hc)) = (f32_values(&x), f32_values(&scale), f32_values(&shift)) else {
            return broadcast_channel_affine::<Self>(x, scale, shift);
        };
        let xs = xc.shape();
        let plane = xs[2] * xs[3];
        let (scale, shift) = (slice(&sc), slice(&hc));
        let mut out = slice(&xc).to_vec();
        if plane > 0 {
            out.par_chunks_mut(plane).enumerate().for_each(|(i, values)| {
                let (a, b) = (scale[i % xs[1]], shift[i % xs[1]]);
                values.iter_mut().for_each(|v| *v = *v * a + b);
            });
        }
        flex_tensor(out, xs)
    }

    fn max_pool4(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match f32_values(&x) {
            Some(xc) => flex_pool(&xc, false).0,
            None => Self::max_pool2d(x, POOL, POOL, [0, 0], [1, 1], false),
        }
    }

    fn max_pool4_with_indices(x: FloatTensor<Self>) -> (FloatTensor<Self>, IntTensor<Self>) {
        match f32_values(&x) {
            Some(xc) => flex_pool(&xc, true),
            None => {
                let pooled = Self::max_pool2d_with_indices(x, POOL, POOL, [0, 0], [1, 1], false);
                (pooled.output, pooled.indices)
            }
        }
    }

    fn max_pool4_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        // Our indices are i32 flat positions within each plane (see `pool4`).
        let (Some(gc), true) = (f32_values(&grad), indices.dtype() == DType::I32) else {
            return Self::max_pool2d_with_indices_backward(x, POOL, POOL, [0, 0], [1, 1], false, grad, indices).x_grad;
        };
        let ic = indices.to_contiguous();
        let xs = x.shape();
        let values = pool4::backward(
            xs[0] * xs[1],
            xs[2],
            xs[3],
            slice(&gc),
            ic.as_slice::<i32>().expect("contiguous i32 indices"),
        );
        flex_tensor(values, xs)
    }

    fn conv3x3_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (Some(wc), Some(gc)) = (f32_values(&weight), f32_values(&grad)) else {
            return Self::conv2d_x_backward(x, weight, grad, same_padding());
        };
        let shape = shape_of(&x, &wc);
        let out = conv3x3::backward_input(&shape, slice(&wc), slice(&gc));
        flex_tensor(out, x.shape())
    }

    fn conv3x3_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (Some(xc), Some(gc)) = (f32_values(&x), f32_values(&grad)) else {
            return Self::conv2d_weight_backward(x, weight, grad, same_padding());
        };
        let shape = shape_of(&xc, &weight);
        let out = conv3x3::backward_weight(&shape, slice(&xc), slice(&gc));
        flex_tensor(out, weight.shape())
    }

    fn conv3x3_bias_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let Some(gc) = f32_values(&grad) else {
            return Self::conv2d_bias_backward(x, bias, grad);
        };
        let gs = gc.shape();
        let shape = Conv3x3Shape {
            batch: gs[0],
            channels_in: 0,
            channels_out: gs[1],
            height: gs[2],
            width: gs[3],
        };
        flex_tensor(conv3x3::backward_bias(&shape, slice(&gc)), bias.shape())
    }
}

#[cfg(feature = "cuda")]
impl SeedBackend for burn::backend::Cuda {}

/// The fused convolution's node in the autodiff graph: ReLU's mask from the saved output,
/// then the inner backend's convolution backward passes.
#[derive(Debug)]
struct Conv3x3ReluBackward;

impl<B: SeedBackend> Backward<B, 3> for Conv3x3ReluBackward {
    /// Checkpointed x, weight and bias, and the (post-ReLU) output.
    type State = (NodeId, NodeId, NodeId, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let (x_state, weight_state, bias_state, output) = ops.state;
        let grad = B::relu_backward(output, grads.consume::<B>(&ops.node));
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_state);
        let bias = checkpointer.retrieve_node_output::<FloatTensor<B>>(bias_state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::conv3x3_x_backward(x.clone(), weight.clone(), grad.clone()));
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, B::conv3x3_weight_backward(x.clone(), weight, grad.clone()));
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, B::conv3x3_bias_backward(x, bias, grad));
        }
    }
}

/// The max-pool's node: routes the gradient through the inner backend's indices.
#[derive(Debug)]
struct MaxPool4Backward;

impl<B: SeedBackend> Backward<B, 1> for MaxPool4Backward {
    type State = (NodeId, IntTensor<B>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, indices) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::max_pool4_backward(x, grad, indices));
        }
    }
}

impl<B: SeedBackend, C: CheckpointStrategy> SeedBackend for Autodiff<B, C> {
    fn conv3x3_relu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        match Conv3x3ReluBackward
            .prepare::<C>([x.node.clone(), weight.node.clone(), bias.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let (xs, ws, bs) = (prep.checkpoint(&x), prep.checkpoint(&weight), prep.checkpoint(&bias));
                let output = B::conv3x3_relu(x.primitive, weight.primitive, bias.primitive);
                prep.finish((xs, ws, bs, output.clone()), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv3x3_relu(x.primitive, weight.primitive, bias.primitive)),
        }
    }

    fn max_pool4(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPool4Backward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let (output, indices) = B::max_pool4_with_indices(x.primitive);
                prep.finish((x_state, indices), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool4(x.primitive)),
        }
    }
}
